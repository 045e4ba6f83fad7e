"""Fixtures for the core tests: the mini spec, settings for it, and in-process clients (lifespan included)."""

from __future__ import annotations

import dataclasses
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.settings import ApiKey, Settings, hash_key

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # connexion resolves the fixture handlers by name: tests.core.fixtures.handlers
    sys.path.insert(0, str(REPO))

FIXTURES = Path(__file__).resolve().parent / "fixtures"
MINI_SPEC = FIXTURES / "mini_openapi.yaml"
HANDLERS = "tests.core.fixtures.handlers"
REQUEST_ID = re.compile(r"^req_[0-9A-Za-z]{24}$")

ALICE_KEY = "sk-test-alice-0123456789abcdef"
BOB_KEY = "sk-test-bob-fedcba9876543210"
REQUEST_LIMIT = 1024
UPLOAD_LIMIT = 4096


def mini_settings(**overrides: Any) -> Settings:
    base = Settings(
        spec_path=MINI_SPEC,
        handlers_package=HANDLERS,
        max_request_body_bytes=REQUEST_LIMIT,
        max_upload_body_bytes=UPLOAD_LIMIT,
    )
    return dataclasses.replace(base, **overrides)


def keyed_settings() -> Settings:
    return mini_settings(
        api_keys=(
            ApiKey(key_sha256=hash_key(ALICE_KEY), name="alice", workspace="research"),
            ApiKey(key_sha256=hash_key(BOB_KEY), name="bob", workspace="default"),
        )
    )


@pytest.fixture
def make_client() -> Iterator[Callable[[Settings], TestClient]]:
    """Open clients (lifespan running) for any settings; all are closed at teardown."""
    opened: list[TestClient] = []

    def make(settings: Settings) -> TestClient:
        client = TestClient(create_app(settings))
        client.__enter__()
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Callable[[Settings], TestClient]) -> TestClient:
    """Local mode (no keys)."""
    return make_client(mini_settings())


@pytest.fixture
def keyed_client(make_client: Callable[[Settings], TestClient]) -> TestClient:
    return make_client(keyed_settings())


def assert_envelope(response: Any, status: int, error_type: str) -> str:
    """Check the one error format and the request-id header; return the message.

    ``response`` is an httpx (real server) or httpx2 (starlette's TestClient) response.
    """
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"type", "error", "request_id"}
    assert body["type"] == "error"
    assert set(body["error"]) == {"type", "message"}
    assert body["error"]["type"] == error_type
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    header_id = response.headers.get("request-id")
    assert header_id is not None and REQUEST_ID.match(header_id), header_id
    assert body["request_id"] == header_id
    message: str = body["error"]["message"]
    return message
