"""``litellm-gateway`` command line: ``serve``, ``check-config``, ``routes list|explain`` (:mod:`gateway.cli_routes`),
``init``, ``doctor`` and ``claude`` (:mod:`gateway.cli_setup`) and ``environments`` (the keys of
self-hosted workers: ``key`` mints one and prints it as the last line of stdout, ``keys`` lists, ``revoke-key``
revokes; they open the configured database themselves, migrating it if needed).

Exit codes: 0 ok, 1 the environment or key does not exist or cannot have keys, 2 configuration error or a refused
(unsafe) bind.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from gateway import __version__, cli_completion, cli_routes, cli_setup
from gateway.settings import LOG_LEVELS, ConfigError, Settings, load_settings
from gateway.spec import SpecError, load_spec, operation_count

if TYPE_CHECKING:
    from gateway.routing.config import RoutingConfig

PROG = "litellm-gateway"
CONFIG_HELP = "YAML config (default: $CONFIG_FILE_PATH, else the embedded default_config.yaml)"
EXIT_CONFIG = 2
TRACE = 5  # uvicorn's TRACE level
EXIT_NOT_FOUND = 1
T = TypeVar("T")


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``; every other name or address (including ``0.0.0.0``) is not."""
    from gateway.middleware import is_loopback_host

    return is_loopback_host(host)


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError("must be an integer") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError("must be between 0 and 65535")
    return port


def _workers(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 64:
        raise argparse.ArgumentTypeError("must be an integer from 1 to 64")
    return int(value)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Contract-first gateway for Claude clients.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the gateway (uvicorn, one worker)")
    serve.add_argument("--config", metavar="FILE", help=CONFIG_HELP)
    serve.add_argument("--host", help="override gateway.host")
    serve.add_argument("--port", type=_port, help="override gateway.port")
    serve.add_argument("--log-level", choices=LOG_LEVELS, help="override gateway.log_level")
    serve.add_argument("--workers", type=_workers, default=1, help="worker processes on one port (default 1)")
    serve.add_argument(
        "--key-file",
        metavar="FILE",
        default=os.environ.get("GATEWAY_KEY_FILE"),
        help="without gateway.api_keys: use $GATEWAY_KEY, else the key in FILE, else generate one into FILE "
        "(printed once); default $GATEWAY_KEY_FILE",
    )
    check = sub.add_parser("check-config", help="load the config and the spec, build the app, and report")
    check.add_argument("--config", metavar="FILE", help=CONFIG_HELP)
    routes = sub.add_parser("routes", help="inspect the native routing table")
    routes_sub = routes.add_subparsers(dest="routes_command", required=True)
    cli_routes.add_parsers(routes_sub, CONFIG_HELP)  # list, explain
    cli_setup.add_parsers(sub, CONFIG_HELP)  # init, doctor, claude
    cli_completion.add_parser(sub)
    environments = sub.add_parser("environments", help="keys of self-hosted environments' workers")
    env_sub = environments.add_subparsers(dest="environments_command", required=True)
    key = env_sub.add_parser("key", help="mint an environment key; it is printed once, as the last line of stdout")
    key.add_argument("environment_id", metavar="ENVIRONMENT_ID", help="a self_hosted environment (env_…)")
    key.add_argument("--name", help="a label shown in the key list")
    key.add_argument("--config", metavar="FILE", help=CONFIG_HELP)
    keys = env_sub.add_parser("keys", help="list an environment's keys (never the keys themselves)")
    keys.add_argument("environment_id", metavar="ENVIRONMENT_ID")
    keys.add_argument("--config", metavar="FILE", help=CONFIG_HELP)
    revoke = env_sub.add_parser("revoke-key", help="revoke an environment key by its id (ekey_…)")
    revoke.add_argument("key_id", metavar="KEY_ID")
    revoke.add_argument("--config", metavar="FILE", help=CONFIG_HELP)
    from gateway.keys import cli as keys_cli

    keys_cli.add_parser(sub)
    return parser


def _with_store(args: argparse.Namespace, work: Callable[[Any], Awaitable[T]]) -> T:
    """Run ``work(store)`` on the configured database (migrated first, as the gateway does at start-up)."""
    from gateway.storage.config import parse_storage
    from gateway.storage.db import create_engine, migrate
    from gateway.storage.store import Store

    config = parse_storage(_load(args).raw)

    async def run() -> T:
        engine = create_engine(config)
        try:
            await migrate(engine, config)
            return await work(Store(engine))
        finally:
            await engine.dispose()

    return asyncio.run(run())


def environments_command(args: argparse.Namespace) -> int:
    from gateway.errors import GatewayError
    from gateway.storage import environment_keys

    try:
        if args.environments_command == "key":
            token, entry = _with_store(
                args, lambda store: environment_keys.mint_environment_key(store, args.environment_id, name=args.name)
            )
            print(f"environment key {entry['id']} for {entry['environment_id']} (workspace {entry['workspace']});")
            print("it is shown only now: the gateway keeps its SHA-256 only.")
            print(token)
            return 0
        if args.environments_command == "keys":
            rows = _with_store(args, lambda store: environment_keys.list_environment_keys(store, args.environment_id))
            for row in rows:
                print(
                    f"{row['id']}  {row['prefix']}…  name={row['name'] or '-'}  created={row['created_at']}  "
                    f"last_used={row['last_used_at'] or 'never'}"
                )
            if not rows:
                print(f"no keys for {args.environment_id}")
            return 0
        entry = _with_store(args, lambda store: environment_keys.revoke_environment_key(store, args.key_id))
        print(f"revoked {entry['id']} ({entry['prefix']}…) of {entry['environment_id']}")
        return 0
    except ConfigError as exc:
        return _fail(f"config error: {exc}")
    except GatewayError as exc:
        print(f"{PROG}: {exc.message}", file=sys.stderr)
        return EXIT_NOT_FOUND


def routing_warnings(routing: RoutingConfig) -> list[str]:
    """What check-config warns about: a routing table that cannot serve a request, or cannot serve Claude's ids."""
    from gateway.routing.config import DEFAULT_MODELS
    from gateway.routing.model_ids import tier_of

    if not routing.groups:
        return ["model_list is empty: nothing can be routed (every Messages request answers 404)"]
    if routing.default_group is None:
        unrouted = [mid for mid, _ in DEFAULT_MODELS if routing.group_for(mid, tier_of(mid), None) is None]
        if unrouted:
            return [f"no routing.default and no rule for {', '.join(unrouted)}: such requests answer 404"]
    return []


def format_size(size: int) -> str:
    """A byte count the way the config documents it: ``32 MiB``, ``500 MiB``, ``64 KiB``, else ``N bytes``."""
    for unit, factor in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size >= factor and size % factor == 0:
            return f"{size // factor} {unit}"
    return f"{size} bytes"


def _progress(step: str) -> None:
    print(f"check-config: {step}…", file=sys.stderr, flush=True)


def _fail(message: str) -> int:
    print(f"{PROG}: {message}", file=sys.stderr)
    return EXIT_CONFIG


def _load(args: argparse.Namespace) -> Settings:
    # --config, else LiteLLM's CONFIG_FILE_PATH, else the embedded default
    settings = load_settings(getattr(args, "config", None) or os.environ.get("CONFIG_FILE_PATH") or None)
    overrides = {
        name: value
        for name, value in (
            ("host", getattr(args, "host", None)),
            ("port", getattr(args, "port", None)),
            ("log_level", getattr(args, "log_level", None)),
        )
        if value is not None
    }
    return dataclasses.replace(settings, **overrides) if overrides else settings


def _configure_logging(level: str, log_format: str = "text") -> None:
    from gateway.ops.logformat import configure

    configure(TRACE if level == "trace" else getattr(logging, level.upper()), log_format)


def serve(args: argparse.Namespace) -> int:
    try:
        settings = _load(args)
        from gateway.routing.config import parse_routing

        parse_routing(settings.raw)  # routing errors stop start-up here, with the field path, not in the lifespan
        from gateway.storage.config import parse_storage

        parse_storage(settings.raw)  # likewise storage errors
        from gateway.runtime.config import parse_runtime
        from gateway.runtime.executor import check as check_executor

        check_executor(parse_runtime(settings.raw), local_mode=settings.local_mode)  # and runtime errors
        from gateway.limits import parse_limits

        limits = parse_limits(settings.raw)  # the server: section (connection, header and body limits)
        from gateway.ops.config import parse_ops

        ops = parse_ops(settings.raw)  # the ops: section (log format, metrics, tracing, drain)
        if args.key_file:
            from pathlib import Path

            from gateway.bootstrap_key import announcement, with_bootstrap_key

            settings, bootstrap = with_bootstrap_key(settings, Path(args.key_file))
            for line in announcement(bootstrap) if bootstrap else ():
                print(line, file=sys.stderr, flush=True)
    except ConfigError as exc:
        return _fail(f"config error: {exc}")
    if settings.local_mode and not is_loopback(settings.host):
        return _fail(
            f"refusing to listen on {settings.host!r}: no gateway.api_keys are configured (local mode), so every "
            "request would be accepted. Local mode binds to loopback only (127.0.0.1, ::1, localhost); "
            "configure gateway.api_keys (or pass --key-file) to listen on other addresses."
        )
    _configure_logging(settings.log_level, ops.log_format)
    try:
        from gateway.server import served_app  # lazy: keeps --help and config errors fast

        app = served_app(settings, limits)
    except SpecError as exc:
        return _fail(f"config error: gateway.spec_path: {exc}")
    except Exception as exc:  # resolver or spec validation errors from connexion: report, don't trace
        return _fail(f"cannot build the app from {settings.spec_path}: {type(exc).__name__}: {exc}")
    from gateway.ops import workers

    if args.workers > 1:  # the app is built once, before the fork; each worker runs its own lifespan
        return workers.supervise(app, settings, limits, ops, args.workers)
    return workers.run_one(app, settings, limits, ops)


def check_config(args: argparse.Namespace) -> int:
    try:
        _progress("reading the config")
        settings = _load(args)
        _progress(f"loading the spec {settings.spec_path}")
        doc = load_spec(settings.spec_path)
        from gateway.proxy.config import parse_proxy_config

        proxy = parse_proxy_config(settings)
        from gateway.routing.config import parse_routing

        routing = parse_routing(settings.raw)
        from gateway.storage.config import parse_storage

        storage = parse_storage(settings.raw)
        from gateway.limits import parse_limits

        limits = parse_limits(settings.raw)
        from gateway.runtime.config import parse_runtime

        runtime = parse_runtime(settings.raw)
        from gateway.ops.config import parse_ops

        ops = parse_ops(settings.raw)
    except ConfigError as exc:
        return _fail(f"config error: {exc}")
    except SpecError as exc:
        return _fail(f"config error: gateway.spec_path: {exc}")
    try:
        _progress("building the app (resolving every operation's handler)")
        from gateway.app import create_app

        create_app(settings)
    except Exception as exc:
        return _fail(f"cannot build the app from {settings.spec_path}: {type(exc).__name__}: {exc}")
    mode = "local mode (no API keys; loopback only)" if settings.local_mode else f"{len(settings.api_keys)} API key(s)"
    print(f"config OK: {settings.config_path or 'embedded default'}")
    print(f"  listen: {settings.host}:{settings.port}, {mode}")
    print(f"  spec: {settings.spec_path} ({operation_count(doc)} operations), handlers: {settings.handlers_package}")
    print(
        f"  body limits: {format_size(settings.max_request_body_bytes)}, "
        f"uploads {format_size(settings.max_upload_body_bytes)}"
    )
    print(
        f"  server: headers within {limits.header_timeout:g} s, body silence {limits.body_timeout:g} s, keep-alive "
        f"{limits.keep_alive_timeout:g} s, {limits.max_connections_per_client} connections per address, URL "
        f"{format_size(limits.max_url_bytes)}, headers {format_size(limits.max_header_bytes)} / {limits.max_headers}, "
        f"JSON depth "
        f"{limits.max_json_depth}"
    )
    print(f"  passthrough: {', '.join(f'{c.name}={c.mode}' for c in proxy.categories.values())}")
    groups = ", ".join(f"{name} ({len(deps)})" for name, deps in routing.groups.items())
    print(f"  routing: groups {groups or 'none'}; {len(routing.rules)} rule(s); default {routing.default_group}")
    print(
        f"  routing: strategy {routing.strategy}, num_retries {routing.num_retries}, at most "
        f"{routing.max_attempts} upstream attempt(s) per request, prompt-cache affinity "
        f"{'on' if routing.prompt_cache_affinity else 'off'}"
    )
    for warning in routing_warnings(routing):
        print(f"  warning: {warning}")
    secret = "configured" if storage.secret_key else "generated on first start"
    print(f"  storage: {storage.redacted_url}, blobs in {storage.blob_dir}, vault key {secret}")
    runs = "runs sessions" if runtime.run_sessions else "stores events only (run_sessions: false)"
    print(f"  runtime: {runs}, lease {runtime.lease_ttl_seconds:g} s, {runtime.max_model_retries} model retries")
    traces = f"traces to {ops.otlp_endpoint}" if ops.otlp_endpoint else "traces off"
    print(
        f"  ops: {ops.log_format} logs, /metrics {ops.metrics}, {traces}, drain grace {ops.drain_grace_seconds:g} s "
        f"(announce {ops.drain_announce_seconds:g} s)"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    rest: list[str] = []
    if words[:1] == ["claude"]:  # everything after the gateway's own options goes to Claude Code unchanged
        words, rest = cli_setup.split_claude_argv(words)
    args = build_parser().parse_args(words)
    if args.command == "claude":
        args.claude_args = rest
    if args.command == "serve":
        return serve(args)
    if args.command == "routes":
        return cli_routes.routes_list(args) if args.routes_command == "list" else cli_routes.routes_explain(args)
    if args.command == "completion":
        return cli_completion.completion(args)
    if args.command in ("init", "doctor", "claude"):
        return {"init": cli_setup.init, "doctor": cli_setup.doctor, "claude": cli_setup.claude}[args.command](args)
    if args.command == "environments":
        return environments_command(args)
    if args.command == "keys":
        from gateway.keys import cli as keys_cli

        try:
            return keys_cli.command(args, _with_store, PROG)
        except ConfigError as exc:
            return _fail(f"config error: {exc}")
    return check_config(args)


if __name__ == "__main__":
    sys.exit(main())
