"""The ``runtime:`` section of the config file: how sessions run.

```yaml
runtime:
  lease_ttl_seconds: 30         # a process that stops renewing a session's lease loses it after this long
  sweep_seconds: 2              # how often a process looks for sessions with work and no live owner
  max_model_retries: 3          # retries of a failed model request (429/529/5xx/timeouts) before retries_exhausted
  retry_backoff_seconds: 1.0    # first retry delay; doubles per retry (an upstream retry-after wins when longer)
  max_tokens: 8192              # max_tokens of each model request
  max_tool_result_bytes: 100000 # text of a tool result beyond this is cut, with a marker saying how much
  max_concurrent_turns: 1000    # model requests this process runs at once (others wait their turn)
  scheduler_tick_seconds: 15    # how often deployment schedules are checked (gateway/scheduler.py)
  run_sessions: true            # false: this process stores events and queues work but runs no turn; another
                                # process on the same database (with run_sessions: true) picks the sessions up
  # the built-in toolset on ``cloud`` environments (gateway/runtime/executor/, README "Cloud executor")
  cloud_executor: sandbox       # sandbox (bubblewrap) | process (plain subprocess) | none (calls end the turn)
  workdir: <data dir>/sessions  # one directory per session, kept until the session is deleted
  tool_timeout_s: 120           # wall-clock limit of one tool call (bash's timeout_ms may only lower it)
  max_output_bytes: 100000      # output of a call beyond this is cut, with a marker saying how much
  sandbox_memory_mb: 2048       # address-space limit (RLIMIT_AS) of each process of a call
  sandbox_file_mb: 1024         # largest file a call may write (RLIMIT_FSIZE)
  sandbox_processes: 256        # processes of the session's sandbox user (RLIMIT_NPROC; see the README)
  allow_process_executor: false # process is refused outside local mode unless this is true
  sandbox_host_network: false   # true: ``unrestricted`` sandboxes share the host's network (loopback included);
                                # false: they go through the egress proxy with every public host allowed
  egress_allowed_networks: []   # CIDRs the egress proxy, web_fetch and the MCP client may reach although
                                # loopback/private/link-local
  web_fetch_max_bytes: 1000000  # web_fetch reads at most this much of a page's body
  web_fetch_timeout_s: 30       # web_fetch's wall-clock limit for one URL, redirects included
  mcp_timeout_s: 30             # limit of one MCP operation (connect + list the tools, or one tool call)
  github_base_url: https://github.com  # github_repository resources under https://github.com/ are cloned from here
```
Unknown keys are errors naming the key."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any
from urllib.parse import urlsplit

from gateway.settings import ConfigError


@dataclass(frozen=True)
class RuntimeConfig:
    lease_ttl_seconds: float = 30.0
    sweep_seconds: float = 2.0
    max_model_retries: int = 3
    retry_backoff_seconds: float = 1.0
    max_tokens: int = 8192
    max_tool_result_bytes: int = 100_000
    max_concurrent_turns: int = 1000
    scheduler_tick_seconds: float = 15.0
    run_sessions: bool = True
    cloud_executor: str = "sandbox"
    workdir: str = ""  # "" = <data dir>/sessions
    tool_timeout_s: float = 120.0
    max_output_bytes: int = 100_000
    sandbox_memory_mb: int = 2048
    sandbox_file_mb: int = 1024
    sandbox_processes: int = 256
    allow_process_executor: bool = False
    sandbox_host_network: bool = False
    egress_allowed_networks: tuple[str, ...] = ()
    web_fetch_max_bytes: int = 1_000_000
    web_fetch_timeout_s: float = 30.0
    mcp_timeout_s: float = 30.0
    github_base_url: str = "https://github.com"


class RuntimeConfigError(ConfigError):
    """A ``runtime:`` problem (the message names the key)."""


EXECUTORS = ("sandbox", "process", "none")


def _executor(value: Any) -> str:
    if value not in EXECUTORS:
        raise RuntimeConfigError(f"runtime.cloud_executor: must be one of {', '.join(EXECUTORS)}")
    return str(value)


def _workdir(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise RuntimeConfigError("runtime.workdir: must be a directory path")
    return value


def _networks(value: Any) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)):  # the settings' raw sections hold read-only tuples
        raise RuntimeConfigError("runtime.egress_allowed_networks: must be a list of CIDRs")
    out = []
    for item in value:
        try:
            out.append(str(ipaddress.ip_network(str(item), strict=False)))
        except ValueError:
            raise RuntimeConfigError(f"runtime.egress_allowed_networks: {item!r} is not a CIDR") from None
    return tuple(out)


def _base_url(value: Any) -> str:
    if not isinstance(value, str) or urlsplit(value).scheme not in ("http", "https", "file"):
        raise RuntimeConfigError("runtime.github_base_url: must be an http(s):// or file:// URL")
    return value


_SPECIAL: dict[str, Callable[[Any], Any]] = {
    "cloud_executor": _executor,
    "workdir": _workdir,
    "egress_allowed_networks": _networks,
    "github_base_url": _base_url,
}


def parse_runtime(raw: Mapping[str, Any]) -> RuntimeConfig:
    section = raw.get("runtime") or {}
    if not isinstance(section, Mapping):
        raise RuntimeConfigError("runtime: must be a mapping")
    known = {f.name: f for f in fields(RuntimeConfig)}
    values: dict[str, Any] = {}
    for key, value in section.items():
        if key not in known:
            raise RuntimeConfigError(f"runtime.{key}: unknown key (known: {', '.join(sorted(known))})")
        if key in _SPECIAL:
            values[key] = _SPECIAL[key](value)
            continue
        if known[key].type in ("bool", bool):
            if not isinstance(value, bool):
                raise RuntimeConfigError(f"runtime.{key}: must be true or false")
            values[key] = value
            continue
        kind = int if known[key].type in ("int", int) else float
        low = 0 if key == "max_model_retries" else 1e-9
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < low:
            raise RuntimeConfigError(f"runtime.{key}: must be a {'non-negative' if low == 0 else 'positive'} number")
        if kind is int and value != int(value):
            raise RuntimeConfigError(f"runtime.{key}: must be a whole number")
        values[key] = kind(value)
    return RuntimeConfig(**values)
