"""Day-one commands: ``init`` (a commented starter config), ``doctor`` (one tiny request per deployment) and
``claude`` (Claude Code with its environment pointed at this gateway, as claude-code-router's ``ccr code`` does).

No secret is printed: doctor names deployments by id and quotes upstream error messages with the deployment's key
cut out; ``claude`` passes the gateway key to Claude Code in its environment only.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.settings import PACKAGE_DIR, ConfigError, Settings

STARTER_CONFIG = PACKAGE_DIR / "starter_config.yaml"
PROBE_MODEL = "claude-haiku-4-5"  # the model id a doctor probe sends to a deployment that forwards the client's id
EXIT_PROBE_FAILED = 1


def add_parsers(sub: Any, config_help: str) -> None:
    init = sub.add_parser("init", help="write a commented starter config (check-config accepts it as written)")
    init.add_argument("path", nargs="?", default="gateway.yaml", metavar="PATH", help="default: ./gateway.yaml")
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    doctor = sub.add_parser("doctor", help="send one tiny request to each deployment: reachability, auth, latency")
    doctor.add_argument("--config", metavar="FILE", help=config_help)
    doctor.add_argument("--timeout", type=float, default=15.0, help="seconds per probe (default 15)")
    doctor.add_argument(
        "--model",
        default=PROBE_MODEL,
        help=f"model id for deployments that forward the client's (default {PROBE_MODEL})",
    )
    claude = sub.add_parser("claude", help="run Claude Code (claude on PATH) with its environment set for this gateway")
    claude.add_argument("--config", metavar="FILE", help=config_help)
    claude.add_argument(
        "--key-file", metavar="FILE", default=os.environ.get("GATEWAY_KEY_FILE"), help=argparse.SUPPRESS
    )
    claude.add_argument("claude_args", nargs=argparse.REMAINDER, metavar="ARGS", help="passed to claude unchanged")


# -- init ---------------------------------------------------------------------------------------------------------
def init(args: argparse.Namespace) -> int:
    from gateway.cli import _fail

    target = Path(args.path)
    if target.exists() and not args.force:
        return _fail(f"{target} exists; pass --force to overwrite it")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(STARTER_CONFIG.read_text(encoding="utf-8"), encoding="utf-8")
    print(f"wrote {target}")
    print(f"next: litellm-gateway check-config --config {target}")
    return 0


# -- doctor -------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Probe:
    deployment: str
    ok: bool
    summary: str


def _probe_model(dep: Any, fallback: str) -> str:
    if dep.kind == "mimo_auto":
        return str(dep.mimo_auto["none"][0])
    return fallback if dep.model == "*" else str(dep.model)


def _quote(text: str, secrets: tuple[str | None, ...]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[key]")
    return " ".join(text.split())[:160]


def probe(dep: Any, *, model: str, timeout: float, environ: Mapping[str, str]) -> Probe:
    """One ``max_tokens: 1`` Messages request to ``dep``, with the headers the gateway itself would send."""
    import httpx

    from gateway.upstream.wire import ClientCredentials, upstream_headers

    name = f"{dep.id} [{dep.kind}]"
    if dep.kind == "litellm":
        return Probe(name, True, f"not probed: translated through litellm ({dep.litellm_model})")
    own = environ.get("ANTHROPIC_API_KEY") or None
    if dep.kind == "anthropic" and not dep.api_key and not own:
        return Probe(name, True, "not probed: forwards the client's own credential (set ANTHROPIC_API_KEY to probe)")
    headers = upstream_headers(dep, [], None, ClientCredentials(api_key=own))
    body = {"model": _probe_model(dep, model), "max_tokens": 1, "messages": [{"role": "user", "content": "ping"}]}
    started = time.perf_counter()
    try:
        response = httpx.post(f"{dep.api_base}/v1/messages", json=body, headers=headers, timeout=timeout)
    except httpx.TimeoutException:
        return Probe(name, False, f"unreachable: no answer within {timeout:g} s ({dep.api_base})")
    except httpx.TransportError as exc:
        return Probe(name, False, f"unreachable: {type(exc).__name__} ({dep.api_base})")
    ms = (time.perf_counter() - started) * 1000
    if response.is_success:
        return Probe(name, True, f"reachable, auth ok, HTTP {response.status_code} in {ms:.0f} ms")
    try:
        error = response.json().get("error") or {}
        detail = f"{error.get('type', '?')}: {error.get('message', '')}"
    except (ValueError, AttributeError):
        detail = response.text
    detail = _quote(detail, (dep.api_key, own))
    if response.status_code in (401, 403):
        return Probe(name, False, f"reachable, auth FAILED: HTTP {response.status_code} {detail} in {ms:.0f} ms")
    return Probe(name, False, f"reachable, HTTP {response.status_code} {detail} in {ms:.0f} ms")


def doctor(args: argparse.Namespace) -> int:
    from gateway.cli import _fail, _load
    from gateway.routing.config import parse_routing

    try:
        config = parse_routing(_load(args).raw)
    except ConfigError as exc:
        return _fail(f"config error: {exc}")
    failed = 0
    for group, deployments in config.groups.items():
        print(f"group {group}:")
        for dep in deployments:
            result = probe(dep, model=args.model, timeout=args.timeout, environ=os.environ)
            failed += not result.ok
            print(f"  {'ok  ' if result.ok else 'FAIL'} {result.deployment}: {result.summary}", flush=True)
    total = sum(len(d) for d in config.groups.values())
    print(f"{total - failed} of {total} deployment(s) ok" if failed else f"all {total} deployment(s) ok")
    return EXIT_PROBE_FAILED if failed else 0


# -- claude -------------------------------------------------------------------------------------------------------
def base_url(settings: Settings) -> str:
    host = settings.host
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.port}"


def gateway_key(settings: Settings, key_file: str | None, environ: Mapping[str, str]) -> str | None:
    """The key Claude Code presents to the gateway: $GATEWAY_KEY, else the bootstrap key file; None in local mode."""
    if environ.get("GATEWAY_KEY"):
        return environ["GATEWAY_KEY"]
    if key_file and Path(key_file).is_file():
        return Path(key_file).read_text(encoding="utf-8").strip() or None
    if settings.local_mode:
        return None
    raise ConfigError(
        "the gateway has API keys: export GATEWAY_KEY=<your gateway key> (Claude Code sends it as "
        "Authorization: Bearer; your own ANTHROPIC_API_KEY, if any, is still forwarded to Anthropic)"
    )


def claude_environment(settings: Settings, key: str | None, environ: Mapping[str, str]) -> dict[str, str]:
    env = dict(environ)
    env["ANTHROPIC_BASE_URL"] = base_url(settings)
    if key is not None:
        env["ANTHROPIC_AUTH_TOKEN"] = key  # Authorization: Bearer <gateway key>; ANTHROPIC_API_KEY stays the user's
    env.setdefault("CLAUDE_CODE_ENABLE_GATEWAY_MODEL_DISCOVERY", "1")  # /model lists the gateway's /v1/models
    return env


def split_claude_argv(argv: list[str]) -> tuple[list[str], list[str]]:
    """``claude [--config FILE] [--key-file FILE] [--] ARGS…``: the gateway's own leading options, and the rest for
    Claude Code unchanged (argparse alone would take Claude Code's ``-p`` for one of ours)."""
    own, rest = argv[:1], argv[1:]
    while rest[:1] and rest[0] in ("--config", "--key-file") and len(rest) > 1:
        own, rest = [*own, *rest[:2]], rest[2:]
    if rest[:1] == ["--"]:
        rest = rest[1:]
    return own, rest


def claude(args: argparse.Namespace) -> int:
    from gateway.cli import _fail, _load

    try:
        settings = _load(args)
        env = claude_environment(settings, gateway_key(settings, args.key_file, os.environ), os.environ)
    except ConfigError as exc:
        return _fail(f"config error: {exc}")
    executable = os.environ.get("CLAUDE_CODE_BIN") or shutil.which("claude")
    if not executable:
        return _fail("claude (Claude Code) is not on PATH: npm install -g @anthropic-ai/claude-code")
    claude_args = list(args.claude_args)
    sys.stdout.flush()
    os.execve(executable, [executable, *claude_args], env)
    return 0  # not reached
