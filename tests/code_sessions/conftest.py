"""A real gateway process (the session runtime's fixture: scripted fake model, SQLite or PostgreSQL) and the
protocol clients of :mod:`tests.code_sessions.ccr_client`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.runtime.conftest import KEY, Gateway, _gateway
from tests.storage.conftest import DATABASES, storage_section


@pytest.fixture(params=DATABASES)
def gw(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Gateway]:
    with storage_section(request.param, tmp_path) as section:
        yield from _gateway(section, tmp_path)


@pytest.fixture
def sqlite_gw(tmp_path: Path) -> Iterator[Gateway]:
    with storage_section("sqlite", tmp_path) as section:
        yield from _gateway(section, tmp_path)


def http_client(url: str) -> httpx.Client:
    return httpx.Client(base_url=url, timeout=httpx.Timeout(30.0))


@pytest.fixture
def http(gw: Gateway) -> Iterator[httpx.Client]:
    with http_client(gw.url) as client:
        yield client


TOKEN = KEY  # the gateway's API key stands in for the claude.ai OAuth token (Bearer)


def dig(value: Any, *keys: str) -> Any:
    for key in keys:
        value = value[key]
    return value
