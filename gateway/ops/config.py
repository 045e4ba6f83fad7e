"""The optional top-level ``ops:`` section of the config file (every key optional)::

ops:
  log_format: json              # json: one JSON object per line; text: the former "time level name: message"
  metrics: key                  # key: /metrics needs a gateway key (open in local mode); open; off (404)
  otlp_endpoint: null           # e.g. http://127.0.0.1:4318/v1/traces - traces are off without it
  otlp_headers: {}              # extra headers for the OTLP exporter (values may be os.environ/NAME)
  service_name: litellm-gateway # the OpenTelemetry resource's service.name
  drain_grace_seconds: 30       # after SIGTERM: how long open requests, streams and session steps may finish
  drain_announce_seconds: 0     # after SIGTERM: keep accepting (readiness answers 503) this long first
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.settings import ConfigError

SECTION = "ops"
LOG_FORMATS = ("json", "text")
METRICS_MODES = ("key", "open", "off")


@dataclass(frozen=True)
class OpsConfig:
    log_format: str = "json"
    metrics: str = "key"
    otlp_endpoint: str | None = None
    otlp_headers: Mapping[str, str] = field(default_factory=dict)
    service_name: str = "litellm-gateway"
    drain_grace_seconds: float = 30.0
    drain_announce_seconds: float = 0.0


_KNOWN = tuple(OpsConfig.__dataclass_fields__)


def parse_ops(raw: Mapping[str, Any]) -> OpsConfig:
    """The ``ops:`` section of ``Settings.raw`` (absent: every default). Errors name the field."""
    section = raw.get(SECTION)
    if section is None:
        return OpsConfig()
    if not isinstance(section, Mapping):
        raise ConfigError(f"{SECTION}: must be a mapping")
    values: dict[str, Any] = {}
    for key, value in section.items():
        if key not in _KNOWN:
            raise ConfigError(f"{SECTION}.{key}: unknown key (known: {', '.join(_KNOWN)})")
        values[key] = _read(str(key), value)
    return OpsConfig(**values)


def _read(key: str, value: Any) -> Any:
    path = f"{SECTION}.{key}"
    if key in ("log_format", "metrics"):
        allowed = LOG_FORMATS if key == "log_format" else METRICS_MODES
        if value not in allowed:
            raise ConfigError(f"{path}: must be one of {', '.join(allowed)}")
        return value
    if key in ("drain_grace_seconds", "drain_announce_seconds"):
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ConfigError(f"{path}: must be a number of seconds, 0 or more")
        return float(value)
    if key == "otlp_headers":
        if value is None:
            return {}
        if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
            raise ConfigError(f"{path}: must be a mapping of header names to strings")
        return {str(k): v for k, v in value.items()}
    if key == "otlp_endpoint" and value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{path}: must be a non-empty string")
    if key == "otlp_endpoint" and not value.startswith(("http://", "https://")):
        raise ConfigError(f"{path}: must be an http:// or https:// URL")
    return value.strip()
