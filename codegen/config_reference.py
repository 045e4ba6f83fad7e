"""docs/configuration.md, generated from the config's own schema: the ``Settings`` dataclass (``gateway:``), the
pydantic models of :mod:`gateway.routing.config` (``model_list``, ``router_settings``, ``routing``), and the
dataclasses of ``storage:``, ``server:`` and ``runtime:``. Every key's type and default come from there; only the
one-line descriptions are written here, and a key without one stops the generator, so a new key cannot go
undocumented. ``tests/docs/test_config_reference.py`` fails when the committed file is stale.

    python -m codegen.config_reference          # rewrite docs/configuration.md
"""

from __future__ import annotations

import dataclasses
import re
import sys
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "docs" / "configuration.md"

DESCRIPTIONS: dict[str, str] = {
    # gateway:
    "gateway.host": "address to listen on; without API keys (local mode) only loopback addresses are accepted",
    "gateway.port": "port to listen on",
    "gateway.api_keys": "gateway keys: `{key: …}` (plaintext or `os.environ/NAME`) or `{key_sha256: …}`, with "
    "`name` and `workspace`; none = local mode",
    "gateway.validate_responses": "validate every JSON response against the contract (slower; the tests turn it on)",
    "gateway.max_request_body_bytes": "largest request body (bytes or `'32 MiB'`); 413 above",
    "gateway.max_upload_body_bytes": "largest multipart upload to /v1/files and /v1/skills; 413 above",
    "gateway.spec_path": "the OpenAPI contract served (relative to the config file)",
    "gateway.log_level": "critical, error, warning, info, debug or trace",
    "gateway.handlers_package": "package the operationIds resolve against",
    # model_list[]:
    "model_list[].model_name": "the model group this deployment belongs to",
    "model_list[].litellm_params": "how to reach the deployment (below)",
    "model_list[].model_info": "listing, pricing and tokenizer details (below)",
    "litellm_params.model": "`<provider>/<model>`: `anthropic/*`, `deepseek/…`, `mimo/…`, `mimo_auto/`, or any "
    "litellm provider",
    "litellm_params.api_base": "the upstream's base URL (default: the provider's own)",
    "litellm_params.api_key": "the deployment's key (`os.environ/NAME`); an `anthropic/` deployment without one "
    "forwards the client's own credential",
    "litellm_params.api_version": "passed to litellm (translated backends)",
    "litellm_params.organization": "passed to litellm (translated backends)",
    "litellm_params.custom_llm_provider": "passed to litellm (translated backends)",
    "litellm_params.extra_headers": "extra request headers (translated backends)",
    "litellm_params.drop_params": "passed to litellm (translated backends)",
    "litellm_params.timeout": "seconds without an upstream byte before the attempt fails",
    "litellm_params.rpm": "requests per minute; above it the deployment is tried last (and weights the shuffle)",
    "litellm_params.tpm": "tokens per minute (request body size / 4); as rpm",
    "litellm_params.weight": "share of the simple-shuffle order",
    "litellm_params.input_cost_per_token": "price, for accounting",
    "litellm_params.output_cost_per_token": "price, for accounting",
    "litellm_params.cache_creation_input_token_cost": "price, for accounting",
    "litellm_params.cache_read_input_token_cost": "price, for accounting",
    "model_info.id": "id listed by /v1/models",
    "model_info.display_name": "display name listed by /v1/models",
    "model_info.description": "free text",
    "model_info.base_model": "free text (LiteLLM compatibility)",
    "model_info.mode": "free text (LiteLLM compatibility)",
    "model_info.max_tokens": "informational",
    "model_info.max_input_tokens": "informational",
    "model_info.max_output_tokens": "informational",
    "model_info.effort_table": "`mimo_auto/`: effort -> `{model, thinking}`",
    "model_info.tokenizer": "local count_tokens tokenizer: deepseek, o200k or claude",
    "model_info.input_cost_per_token": "price, for accounting",
    "model_info.output_cost_per_token": "price, for accounting",
    "model_info.cache_creation_input_token_cost": "price, for accounting",
    "model_info.cache_read_input_token_cost": "price, for accounting",
    # router_settings:
    "router_settings.fallbacks": "`[{group: [fallback, …]}]`: groups tried after the group's own deployments",
    "router_settings.cooldown_time": "seconds a failing deployment is skipped",
    "router_settings.allowed_fails": "failures before a deployment cools down",
    "router_settings.timeout": "default per-deployment timeout (seconds)",
    "router_settings.redis_url": "share cooldowns between gateway processes",
    "router_settings.num_retries": "extra attempts on the same deployment (failover is separate)",
    "router_settings.routing_strategy": "simple-shuffle, least-busy or latency-based-routing",
    "router_settings.model_group_alias": "`{alias: group}` or `{alias: {model: group, hidden: true}}`",
    # routing:
    "routing.default": "the group for requests no rule matches (none: 404)",
    "routing.rules": "`[{tier, effort, model, group}]`, first match wins (docs/routing.md)",
    "routing.models": "`[{id, display_name}]` listed by /v1/models instead of the computed list",
    "routing.keepalive_seconds": "`: keep-alive` comment interval during upstream silence in streams",
    "routing.stream_idle_timeout_seconds": "a stream with no upstream byte for this long ends with an error event",
    "routing.prompt_cache_affinity": "keep a conversation on the deployment that served it last",
    "routing.affinity_ttl_seconds": "how long a conversation's deployment is remembered",
    # storage:
    "storage.database_url": "`sqlite+aiosqlite:///…` or `postgresql+asyncpg://…` (default: SQLite in the data "
    "directory)",
    "storage.schema": "PostgreSQL schema for the tables (created if missing)",
    "storage.echo": "log every SQL statement",
    "storage.blob_dir": "file contents and skill zips (default: `<data dir>/blobs`, also with PostgreSQL)",
    "storage.secret_key": "Fernet key for vault credentials (default: generated into `<data dir>/secret.key`)",
    "storage.work_ttl_seconds": "self-hosted work lease granted by ack / heartbeat",
    # server:
    "server.header_timeout": "seconds to receive a request's headers: 408",
    "server.body_timeout": "seconds without a body byte: 408",
    "server.keep_alive_timeout": "seconds an idle keep-alive connection stays open",
    "server.max_connections_per_client": "concurrent connections per client address: 429 beyond",
    "server.max_url_bytes": "request target size: 414",
    "server.max_header_bytes": "header names and values together: 431",
    "server.max_headers": "header fields: 431",
    "server.max_json_depth": "nesting of a JSON request body: 400 (at most 200)",
    "server.allowed_hosts": "local mode: Host names accepted besides loopback",
    "server.allowed_origins": "local mode: browser origins allowed to send writes",
    # runtime:
    "runtime.lease_ttl_seconds": "a session run's lease (another process takes over after it)",
    "runtime.sweep_seconds": "how often expired leases are looked for",
    "runtime.max_model_retries": "model call retries within a turn",
    "runtime.retry_backoff_seconds": "first retry delay (doubling)",
    "runtime.max_tokens": "max_tokens of the runtime's model calls",
    "runtime.max_tool_result_bytes": "larger tool results are cut",
    "runtime.max_concurrent_turns": "turns run at once in this process",
    "runtime.scheduler_tick_seconds": "how often due deployment cron occurrences fire",
    "runtime.run_sessions": "false: store events only, run no turns",
    "ops.log_format": "json: one JSON object per line; text: the former lines",
    "ops.metrics": "key: /metrics needs a gateway key (open in local mode); open; off (404)",
    "ops.otlp_endpoint": "OTLP/HTTP traces endpoint; traces are off without it",
    "ops.otlp_headers": "extra headers for the OTLP exporter",
    "ops.service_name": "service.name of the exported spans",
    "ops.drain_grace_seconds": "after SIGTERM: how long open requests, streams and turns may finish",
    "ops.drain_announce_seconds": "after SIGTERM: keep accepting this long (readiness already 503)",
    "runtime.cloud_executor": "runs the built-in toolset on cloud environments: sandbox (bubblewrap), process, none",
    "runtime.workdir": "one directory per session, kept until the session is deleted (empty: <data dir>/sessions)",
    "runtime.tool_timeout_s": "wall-clock limit of one built-in tool call",
    "runtime.max_output_bytes": "a tool call's output beyond this is cut, with a marker",
    "runtime.sandbox_memory_mb": "address-space limit (RLIMIT_AS) of each process of a call",
    "runtime.sandbox_file_mb": "largest file a call may write (RLIMIT_FSIZE)",
    "runtime.sandbox_processes": "processes of a session's sandbox user (RLIMIT_NPROC)",
    "runtime.allow_process_executor": "allow cloud_executor: process outside local mode",
    "runtime.sandbox_host_network": "unrestricted sandboxes share the host's network (loopback included)",
    "runtime.egress_allowed_networks": (
        "CIDRs the egress proxy, web_fetch and the MCP client may reach although loopback/private/link-local"
    ),
    "runtime.web_fetch_max_bytes": "web_fetch reads at most this much of a page's body",
    "runtime.web_fetch_timeout_s": "web_fetch's wall-clock limit for one URL, redirects included",
    "runtime.mcp_timeout_s": "limit of one MCP operation (connect and list the tools, or one tool call)",
    "runtime.github_base_url": "github_repository resources under https://github.com/ are cloned from this base",
}

# fields of the dataclasses that are not config keys
NOT_KEYS = {"gateway.raw", "gateway.config_path"}


def _type_name(annotation: Any) -> str:
    if isinstance(annotation, str):
        return annotation
    text = repr(annotation) if typing.get_origin(annotation) else getattr(annotation, "__name__", repr(annotation))
    for noise in ("typing.", "gateway.routing.config.", "pathlib.", "NoneType"):
        text = text.replace(noise, "None" if noise == "NoneType" else "")
    text = text.replace("_ModelInfo", "model_info").replace("_LitellmParams", "litellm_params")
    return re.sub(r"\b_([A-Z])", r"\1", text).replace("|", "\\|")


def _default(value: Any) -> str:
    if value is PydanticUndefined or value is dataclasses.MISSING:
        return "required"
    if isinstance(value, Path):
        if str(value) in (".", ""):
            return "(computed)"
        return f"`{value.relative_to(ROOT)}` of the source tree" if value.is_relative_to(ROOT) else f"`{value}`"
    if value is None:
        return "none"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, int) and value >= 1024 and value % 1024 == 0:
        for unit, factor in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
            if value % factor == 0:
                return f"`{value}` ({value // factor} {unit})"
    if value in ((), [], {}):
        return "empty"
    return f"`{value}`"


def _dataclass_rows(section: str, cls: Any) -> Iterator[tuple[str, str, str]]:
    for field in dataclasses.fields(cls):
        key = f"{section}.{field.name}"
        if key in NOT_KEYS:
            continue
        if field.default is not dataclasses.MISSING:
            default = field.default
        elif field.default_factory is not dataclasses.MISSING:
            default = field.default_factory()
        else:
            default = dataclasses.MISSING
        yield key, _type_name(field.type), _default(default)


def _model_rows(prefix: str, model: type[BaseModel]) -> Iterator[tuple[str, str, str]]:
    for name, info in model.model_fields.items():
        default = info.default_factory() if info.default_factory is not None else info.default  # type: ignore[call-arg]
        yield f"{prefix}.{name}", _type_name(info.annotation), _default(default)


def sections() -> list[tuple[str, str, list[tuple[str, str, str]]]]:
    from gateway.limits import Limits
    from gateway.ops.config import OpsConfig
    from gateway.routing import config as routing
    from gateway.runtime.config import RuntimeConfig
    from gateway.settings import Settings
    from gateway.storage.config import KNOWN_KEYS, StorageConfig

    storage = list(_dataclass_rows("storage", StorageConfig))
    assert [k.split(".", 1)[1] for k, _t, _d in storage] == list(KNOWN_KEYS), "storage keys and dataclass differ"
    storage = [(k, t, "SQLite in the data directory" if k == "storage.database_url" else d) for k, t, d in storage]
    return [
        ("gateway", "The gateway's own settings (`gateway/settings.py`).", list(_dataclass_rows("gateway", Settings))),
        (
            "model_list",
            "A list of deployments, LiteLLM's format (`gateway/routing/config.py`).",
            [
                *_model_rows("model_list[]", routing._ModelEntry),
                *_model_rows("litellm_params", routing._LitellmParams),
                *_model_rows("model_info", routing._ModelInfo),
            ],
        ),
        (
            "router_settings",
            "LiteLLM's router settings.",
            list(_model_rows("router_settings", routing._RouterSettings)),
        ),
        ("routing", "Rules by tier and effort (`docs/routing.md`).", list(_model_rows("routing", routing._Routing))),
        ("storage", "The database, blobs and vault key (`gateway/storage/config.py`).", storage),
        ("server", "Connection and header limits (`gateway/limits.py`).", list(_dataclass_rows("server", Limits))),
        (
            "runtime",
            "The session runtime (`gateway/runtime/config.py`).",
            list(_dataclass_rows("runtime", RuntimeConfig)),
        ),
        ("ops", "Logs, metrics, traces and drain (`gateway/ops/config.py`).", list(_dataclass_rows("ops", OpsConfig))),
    ]


def render() -> str:
    lines = [
        "<!-- Generated by `python -m codegen.config_reference` from the config schema; do not edit. -->",
        "# Configuration reference",
        "",
        "Every key of the YAML config (`litellm-gateway serve --config FILE`, or `CONFIG_FILE_PATH`), with its type "
        "and default, read from the code that parses it. Any string value may be written `os.environ/NAME`. Unknown "
        "keys are errors that name the field (`litellm-gateway check-config`). The `passthrough:` section (which "
        "Anthropic hosts the proxy operations may reach) is described in the README's *Pass-through and local mode*; "
        "`general_settings:` accepts only `master_key` (one more gateway key).",
        "",
    ]
    missing = []
    for name, intro, rows in sections():
        lines += [f"## `{name}:`", "", intro, "", "| key | type | default | meaning |", "|---|---|---|---|"]
        for key, type_name, default in rows:
            description = DESCRIPTIONS.get(key)
            if description is None:
                missing.append(key)
                continue
            lines.append(f"| `{key}` | `{type_name}` | {default} | {description} |")
        lines.append("")
    if missing:
        raise SystemExit(f"no description for: {', '.join(missing)} (add them to codegen/config_reference.py)")
    unused = set(DESCRIPTIONS) - {key for _n, _i, rows in sections() for key, _t, _d in rows}
    if unused:
        raise SystemExit(f"descriptions of keys that no longer exist: {', '.join(sorted(unused))}")
    return "\n".join(lines)


def main() -> int:
    OUTPUT.write_text(render(), encoding="utf-8")
    print(f"wrote {OUTPUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
