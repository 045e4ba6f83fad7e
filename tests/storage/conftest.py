"""A real gateway (uvicorn in a thread) on a fresh database: a SQLite file in tmp, or a fresh schema of the machine's
PostgreSQL (``postgresql+asyncpg://postgres@127.0.0.1:5432/test``, trust auth; override with GATEWAY_TEST_PG_URL),
dropped afterwards. Two gateway keys in two workspaces, for tenant isolation."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import anthropic
import httpx
import pytest
import uvicorn
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.app import create_app
from gateway.settings import settings_from_mapping
from gateway.storage.config import parse_storage
from gateway.storage.db import create_engine, migrate
from tests.model_fake import model_routing

KEY_A = "sk-gw-storage-team-a-0123456789"
KEY_B = "sk-gw-storage-team-b-0123456789"
PG_URL = os.environ.get("GATEWAY_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
DATABASES = ["sqlite", "postgresql"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _pg(statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_URL.replace("postgresql+asyncpg://", "postgresql://"), timeout=5)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@contextmanager
def storage_section(kind: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """The ``storage:`` config section of a fresh, empty database of ``kind``."""
    if kind == "sqlite":
        yield {"database_url": f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"}
        return
    schema = f"gw_test_{uuid.uuid4().hex[:16]}"
    try:
        asyncio.run(_pg("SELECT 1"))
    except (OSError, Exception) as exc:  # no PostgreSQL on this machine
        if os.environ.get("GATEWAY_TEST_REQUIRE_PG"):  # CI: both databases must really run
            pytest.fail(f"PostgreSQL not reachable at {PG_URL} and GATEWAY_TEST_REQUIRE_PG is set: {exc}")
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {exc}")
    try:
        yield {"database_url": PG_URL, "schema": schema}
    finally:
        asyncio.run(_pg(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


@contextmanager
def running_gateway(storage: dict[str, Any], extra: dict[str, Any] | None = None) -> Iterator[str]:
    """A gateway on ``storage`` (two keys in two workspaces; models on the shared fake); ``extra``: more sections."""
    doc = {
        "gateway": {
            "api_keys": [
                {"key": KEY_A, "name": "alice", "workspace": "team-a"},
                {"key": KEY_B, "name": "bob", "workspace": "team-b"},
            ],
            "validate_responses": True,
        },
        "storage": storage,
        **model_routing(),
        **(extra or {}),
    }
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings_from_mapping(doc)), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not server.started:
        time.sleep(0.05)
    assert server.started, "gateway did not start"
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@asynccontextmanager
async def migrated_engine(database: dict[str, Any]) -> AsyncIterator[AsyncEngine]:
    """An engine on ``database`` (a ``storage:`` section) migrated to the newest revision, disposed at the end."""
    config = parse_storage({"storage": database})
    engine = create_engine(config)
    try:
        await migrate(engine, config)
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture(params=DATABASES)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, Any]]:
    with storage_section(request.param, tmp_path) as section:
        yield section


@pytest.fixture
def gateway(database: dict[str, Any]) -> Iterator[str]:
    with running_gateway(database) as url:
        yield url


def sdk(url: str, key: str = KEY_A) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=url, api_key=key, max_retries=0, _strict_response_validation=True)


def http(url: str, key: str = KEY_A) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"x-api-key": key}, timeout=30)


def pages_of(first: Any) -> list[list[Any]]:
    """Every page of an SDK list, following ``next_page`` (the SDK's own auto-pagination), as lists of items."""
    pages = [list(first.data)]
    page = first
    while page.has_next_page():
        page = page.get_next_page()
        pages.append(list(page.data))
    return pages


@pytest.fixture
def blob_dir(tmp_path: Path) -> Path:
    return tmp_path / "blobs"


@pytest.fixture
def blob_gateway(database: dict[str, Any], blob_dir: Path) -> Iterator[str]:
    """A gateway whose blob store (file contents, skill zips) is ``blob_dir``."""
    with running_gateway({**database, "blob_dir": str(blob_dir)}) as url:
        yield url


def blobs_in(root: Path) -> set[str]:
    """The blobs stored under ``root`` (not the temporary objects of unfinished writes)."""
    return {p.name for p in root.rglob("*") if p.is_file() and ".tmp" not in p.parts}
