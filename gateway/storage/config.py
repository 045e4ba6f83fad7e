"""The ``storage:`` config section (beside ``gateway:``)::

    storage:
      database_url: sqlite+aiosqlite:////var/lib/litellm-gateway/gateway.db   # or postgresql+asyncpg://user@host/db
      schema: gateway          # PostgreSQL only: tables live in this schema (created if missing)
      echo: false              # log every SQL statement
      blob_dir: /var/lib/litellm-gateway/blobs   # file contents and skill zips (default: <data dir>/blobs)
      secret_key: os.environ/GATEWAY_SECRET_KEY  # encrypts vault credentials at rest (Fernet key, urlsafe base64)
      work_ttl_seconds: 30     # self-hosted work queue: the lease an ack or a heartbeat without desired_ttl_seconds
                               # grants (whole seconds, 1..3600)

Without ``secret_key`` a key is generated on first start into ``<data dir>/secret.key`` (mode 0600) and reused.

Without a ``storage:`` section the database is a SQLite file in the user's data directory
(``platformdirs.user_data_dir("litellm-gateway")/gateway.db``, e.g. ``~/.local/share/litellm-gateway/gateway.db``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

from gateway.settings import ConfigError, ValueParser

APP_NAME = "litellm-gateway"
KNOWN_KEYS = ("database_url", "schema", "echo", "blob_dir", "secret_key", "work_ttl_seconds")
DEFAULT_WORK_TTL_SECONDS = 30  # gateway.storage.environment_work.DEFAULT_TTL_SECONDS
MAX_WORK_TTL_SECONDS = 3600
_SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
SUPPORTED_DRIVERS = ("sqlite+aiosqlite", "postgresql+asyncpg")


@dataclass(frozen=True)
class StorageConfig:
    database_url: str
    schema: str | None = None
    echo: bool = False
    blob_dir: Path = Path()
    secret_key: str | None = None
    work_ttl_seconds: int = DEFAULT_WORK_TTL_SECONDS

    @property
    def redacted_url(self) -> str:
        """``database_url`` without its password (for messages and logs)."""
        return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", self.database_url)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def data_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def default_database_url() -> str:
    return f"sqlite+aiosqlite:///{data_dir() / 'gateway.db'}"


def parse_storage(raw: Mapping[str, Any], *, environ: Mapping[str, str] | None = None) -> StorageConfig:
    """Read ``raw["storage"]`` (``Settings.raw``); errors name the field, e.g. ``storage.database_url: ...``."""
    parser = ValueParser(os.environ if environ is None else environ, Path.cwd())
    section = parser.mapping(raw.get("storage"), "storage", KNOWN_KEYS)
    url = default_database_url()
    if section.get("database_url") is not None:
        url = parser.string(section["database_url"], "storage.database_url")
        if not url.startswith(SUPPORTED_DRIVERS):
            raise ConfigError(f"storage.database_url: must start with one of {', '.join(SUPPORTED_DRIVERS)}")
    schema = parser.optional_string(section.get("schema"), "storage.schema")
    if schema is not None:
        if not _SCHEMA_NAME.match(schema):
            raise ConfigError("storage.schema: must be a plain SQL identifier (letters, digits, underscore)")
        if url.startswith("sqlite"):
            raise ConfigError("storage.schema: only supported with PostgreSQL")
    echo = parser.boolean(section["echo"], "storage.echo") if section.get("echo") is not None else False
    blob_dir = data_dir() / "blobs"
    if section.get("blob_dir") is not None:
        blob_dir = parser.path(section["blob_dir"], "storage.blob_dir")
    secret_key = parser.optional_string(section.get("secret_key"), "storage.secret_key")
    if secret_key is not None:
        _check_fernet_key(secret_key)
    return StorageConfig(
        database_url=url,
        schema=schema,
        echo=echo,
        blob_dir=blob_dir,
        secret_key=secret_key,
        work_ttl_seconds=_work_ttl(parser, section.get("work_ttl_seconds")),
    )


def _work_ttl(parser: ValueParser, value: Any) -> int:
    """``storage.work_ttl_seconds``: a whole number of seconds in 1..:data:`MAX_WORK_TTL_SECONDS`."""
    if value is None:
        return DEFAULT_WORK_TTL_SECONDS
    seconds = parser.number(value, "storage.work_ttl_seconds", DEFAULT_WORK_TTL_SECONDS)
    if seconds != int(seconds) or not 1 <= seconds <= MAX_WORK_TTL_SECONDS:
        raise ConfigError(f"storage.work_ttl_seconds: must be whole seconds from 1 to {MAX_WORK_TTL_SECONDS}")
    return int(seconds)


def _check_fernet_key(key: str) -> None:
    """A configured vault key must be a Fernet key; the error names the field, never the value."""
    from cryptography.fernet import Fernet

    try:
        Fernet(key.strip().encode("ascii"))
    except (ValueError, TypeError, UnicodeEncodeError):
        raise ConfigError(
            "storage.secret_key: not a valid Fernet key (expected 32 bytes in urlsafe base64, 44 characters)"
        ) from None
