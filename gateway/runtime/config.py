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
```
Unknown keys are errors naming the key."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

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


class RuntimeConfigError(ConfigError):
    """A ``runtime:`` problem (the message names the key)."""


def parse_runtime(raw: Mapping[str, Any]) -> RuntimeConfig:
    section = raw.get("runtime") or {}
    if not isinstance(section, Mapping):
        raise RuntimeConfigError("runtime: must be a mapping")
    known = {f.name: f for f in fields(RuntimeConfig)}
    values: dict[str, Any] = {}
    for key, value in section.items():
        if key not in known:
            raise RuntimeConfigError(f"runtime.{key}: unknown key (known: {', '.join(sorted(known))})")
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
