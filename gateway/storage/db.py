"""Engine creation (SQLite WAL pragmas, PostgreSQL schema) and Alembic migrations at start-up."""

from __future__ import annotations

import asyncio
import logging
import re
from functools import cache
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from gateway.storage import jsoncodec
from gateway.storage.config import StorageConfig

logger = logging.getLogger(__name__)
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")  # durable against process crashes in WAL mode
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
    finally:
        cursor.close()


def create_engine(config: StorageConfig) -> AsyncEngine:
    url = make_url(config.database_url)
    kwargs: dict[str, Any] = {
        "echo": config.echo,
        "json_serializer": jsoncodec.dumps,
        "json_deserializer": jsoncodec.loads,
    }
    if config.is_sqlite:
        database = url.database
        if database and database != ":memory:":
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    if config.schema:
        kwargs["connect_args"] = {"server_settings": {"search_path": config.schema}}
    kwargs["pool_pre_ping"] = True
    return create_async_engine(url, **kwargs)


@cache
def head_revision() -> str | None:
    """The newest migration, read from the files' ``revision`` / ``down_revision`` lines without importing alembic
    (a third of a second at start-up); None when the files do not form one line of revisions (alembic decides)."""
    found = re.compile(r'^(revision|down_revision)\b[^=]*=\s*(?:"([^"]*)"|None)\s*$', re.MULTILINE)
    parent_of: dict[str, str | None] = {}
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        fields = {name: value or None for name, value in found.findall(path.read_text(encoding="utf-8"))}
        if fields.get("revision"):
            parent_of[str(fields["revision"])] = fields.get("down_revision")
    heads = set(parent_of) - {parent for parent in parent_of.values() if parent}
    return heads.pop() if len(heads) == 1 else None


def _at_head(connection: Connection) -> bool:
    """Whether the database is already at :func:`head_revision` (then alembic is not needed at all)."""
    head = head_revision()
    if head is None or not sa.inspect(connection).has_table("alembic_version"):
        return False
    return list(connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalars()) == [head]


def _upgrade(connection: Connection) -> None:
    if _at_head(connection):
        return
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, "head")


async def migrate(engine: AsyncEngine, config: StorageConfig) -> None:
    """Bring the database to the latest revision. Another process migrating the same database at the same moment
    makes one attempt fail; it is retried once the other one has finished."""
    for attempt in range(5):
        try:
            async with engine.begin() as conn:
                if config.schema:
                    await conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{config.schema}"'))
            async with engine.begin() as conn:
                await conn.run_sync(_upgrade)
            return
        except sa.exc.DBAPIError:
            if attempt == 4:
                raise
            logger.warning("storage migration attempt %d failed; retrying", attempt + 1, exc_info=True)
            await asyncio.sleep(0.2 * (attempt + 1))
