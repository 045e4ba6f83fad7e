"""A real gateway (uvicorn, in a thread) in front of real fake upstreams (bench.fakes) on 127.0.0.1."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import anthropic
import httpx
import pytest
import uvicorn

from bench.fakes import AnthropicFake
from gateway.app import create_app
from gateway.settings import settings_from_mapping

KEY = "sk-gw-native-test-0123456789"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_gateway(config: dict[str, Any], *, keyed: bool = True) -> Iterator[str]:
    """Serve ``config`` (a whole config document) on a free port; yields the base URL. ``keyed`` adds the test's
    gateway key; without it the gateway runs in local mode (no keys)."""
    keys = [{"key": KEY, "name": "t", "workspace": "w"}] if keyed else []
    doc = {**config, "gateway": {**config.get("gateway", {}), "api_keys": keys}}
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings_from_mapping(doc)), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{url}/health/liveliness", timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.05)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def client(url: str, key: str = KEY, **kwargs: Any) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=url, api_key=key, max_retries=0, _strict_response_validation=True, **kwargs)


@pytest.fixture
def fake() -> Iterator[AnthropicFake]:
    with AnthropicFake() as server:
        yield server


@pytest.fixture
def fake2() -> Iterator[AnthropicFake]:
    with AnthropicFake(name="backup-fake") as server:
        yield server
