"""Hardening limits: the optional top-level ``server:`` section of the config file.

Connection and header limits are enforced by :mod:`gateway.server` (the HTTP protocol class ``litellm-gateway serve``
runs uvicorn with); JSON depth by :mod:`gateway.validation`; local-mode browser protections by
:class:`gateway.middleware.LocalOriginMiddleware`. Every key is optional; the defaults below are the documented ones
(README, "Security")::

    server:
      header_timeout: 10            # seconds from a connection's first byte (or its opening) to the end of the headers
      body_timeout: 30              # seconds of silence allowed while a request body is being received
      keep_alive_timeout: 5         # an idle keep-alive connection is closed after this many seconds
      max_connections_per_client: 64   # concurrent connections from one client address (429 beyond)
      max_url_bytes: 16384          # request target (path + query), 414 beyond
      max_header_bytes: 65536       # all header names and values together, 431 beyond
      max_headers: 100              # number of header fields, 431 beyond
      max_json_depth: 64            # nesting of arrays/objects in a JSON request body, 400 beyond
      allowed_hosts: []             # local mode: Host names accepted besides localhost, 127.0.0.0/8 and [::1]
      allowed_origins: []           # local mode: browser origins (scheme://host[:port]) allowed to send writes
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.settings import ConfigError

SECTION = "server"
# orjson refuses to serialize nesting beyond 255 levels; stored bodies are echoed inside a few wrapper levels
MAX_JSON_DEPTH_CEILING = 200


@dataclass(frozen=True)
class Limits:
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    keep_alive_timeout: float = 5.0
    max_connections_per_client: int = 64
    max_url_bytes: int = 16 * 1024
    max_header_bytes: int = 64 * 1024
    max_headers: int = 100
    max_json_depth: int = 64
    allowed_hosts: tuple[str, ...] = ()
    allowed_origins: tuple[str, ...] = ()


_FIELDS = {f.name: f for f in dataclasses.fields(Limits)}


def parse_limits(raw: Mapping[str, Any]) -> Limits:
    """The ``server:`` section of ``Settings.raw`` (absent: every default). Errors name the field."""
    section = raw.get(SECTION)
    if section is None:
        return Limits()
    if not isinstance(section, Mapping):
        raise ConfigError(f"{SECTION}: must be a mapping")
    values: dict[str, Any] = {}
    for key, value in section.items():
        spec = _FIELDS.get(key) if isinstance(key, str) else None
        if spec is None:
            raise ConfigError(f"{SECTION}.{key}: unknown key (known: {', '.join(_FIELDS)})")
        values[key] = _read(value, f"{SECTION}.{key}", spec.type)
    depth = values.get("max_json_depth", Limits.max_json_depth)
    if depth > MAX_JSON_DEPTH_CEILING:
        raise ConfigError(f"{SECTION}.max_json_depth: must be at most {MAX_JSON_DEPTH_CEILING}")
    return Limits(**values)


def _read(value: Any, path: str, kind: Any) -> Any:
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise ConfigError(f"{path}: must be a positive number of seconds")
        return float(value)
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ConfigError(f"{path}: must be a positive integer")
        return value
    if value is None:
        return ()
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigError(f"{path}: must be a list of non-empty strings")
    return tuple(v.strip().lower().rstrip("/") for v in value)
