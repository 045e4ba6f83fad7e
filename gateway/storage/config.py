"""The ``storage:`` config section (beside ``gateway:``)::

    storage:
      database_url: sqlite+aiosqlite:////var/lib/litellm-gateway/gateway.db   # or postgresql+asyncpg://user@host/db
      schema: gateway          # PostgreSQL only: tables live in this schema (created if missing)
      echo: false              # log every SQL statement

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
KNOWN_KEYS = ("database_url", "schema", "echo")
_SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
SUPPORTED_DRIVERS = ("sqlite+aiosqlite", "postgresql+asyncpg")


@dataclass(frozen=True)
class StorageConfig:
    database_url: str
    schema: str | None = None
    echo: bool = False

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def default_database_url() -> str:
    data_dir = Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))
    return f"sqlite+aiosqlite:///{data_dir / 'gateway.db'}"


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
    return StorageConfig(database_url=url, schema=schema, echo=echo)
