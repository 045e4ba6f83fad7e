"""The ``storage:`` config section and start-up migrations."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from gateway.settings import ConfigError
from gateway.storage.config import default_database_url, parse_storage
from gateway.storage.db import create_engine, migrate


def test_default_is_a_sqlite_file_in_the_user_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    config = parse_storage({})
    assert config.database_url == default_database_url()
    assert config.database_url == f"sqlite+aiosqlite:///{tmp_path / 'litellm-gateway' / 'gateway.db'}"
    assert config.is_sqlite and config.schema is None


def test_values_and_errors() -> None:
    config = parse_storage(
        {"storage": {"database_url": "os.environ/DB", "schema": "gw"}}, environ={"DB": "postgresql+asyncpg://u@h/db"}
    )
    assert config.database_url == "postgresql+asyncpg://u@h/db" and config.schema == "gw"
    with pytest.raises(ConfigError, match=r"storage\.database_url: must start with"):
        parse_storage({"storage": {"database_url": "mysql://x"}})
    with pytest.raises(ConfigError, match=r"storage\.schema: only supported with PostgreSQL"):
        parse_storage({"storage": {"database_url": "sqlite+aiosqlite:///x.db", "schema": "gw"}})
    with pytest.raises(ConfigError, match=r"storage\.schema: must be a plain SQL identifier"):
        parse_storage({"storage": {"database_url": "postgresql+asyncpg://h/db", "schema": 'x"; drop'}})
    with pytest.raises(ConfigError, match=r"storage\.dsn: unknown key"):
        parse_storage({"storage": {"dsn": "x"}})


def test_migrations_are_idempotent_and_sqlite_uses_wal(tmp_path: Path) -> None:
    config = parse_storage({"storage": {"database_url": f"sqlite+aiosqlite:///{tmp_path / 'sub' / 'g.db'}"}})

    async def run() -> tuple[str, str, set[str]]:
        engine = create_engine(config)
        try:
            await migrate(engine, config)
            await migrate(engine, config)  # a restart on an up-to-date database is a no-op
            async with engine.connect() as conn:
                mode = (await conn.execute(sa.text("PRAGMA journal_mode"))).scalar_one()
                head = (await conn.execute(sa.text("SELECT version_num FROM alembic_version"))).scalar_one()
                tables = await conn.run_sync(lambda c: set(sa.inspect(c).get_table_names()))
        finally:
            await engine.dispose()
        return mode, head, tables

    mode, head, tables = asyncio.run(run())
    assert mode == "wal" and head == "0004"
    assert {"resources", "resource_versions", "events", "alembic_version", "virtual_keys", "spend_logs"} <= tables


def test_the_head_read_from_the_files_is_alembics_and_a_restart_at_head_does_not_import_alembic(
    tmp_path: Path,
) -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from gateway.storage.db import MIGRATIONS_DIR, head_revision

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    assert [head_revision()] == ScriptDirectory.from_config(cfg).get_heads()
    # a fresh process: migrate a new database (alembic runs), then a second process on it (alembic is not imported)
    url = f"sqlite+aiosqlite:///{tmp_path / 'g.db'}"
    script = (
        "import asyncio, sys\n"
        "from gateway.storage.config import parse_storage\n"
        "from gateway.storage.db import create_engine, migrate\n"
        f"config = parse_storage({{'storage': {{'database_url': {url!r}}}}})\n"
        "async def run():\n"
        "    engine = create_engine(config)\n"
        "    await migrate(engine, config)\n"
        "    await engine.dispose()\n"
        "asyncio.run(run())\n"
        "print('alembic' in sys.modules)\n"
    )
    runs = [subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True) for _ in "12"]
    assert [run.stdout.strip() for run in runs] == ["True", "False"], [run.stderr[-2000:] for run in runs]
