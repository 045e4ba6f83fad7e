"""Hostile-input suite: every test talks to a real ``litellm-gateway serve`` process on loopback.

Two gateways per session: one in local mode (no keys) and one with two keys in two workspaces. Both run with a small
``server:`` section (short timeouts, low header limits) so that the limits can be hit quickly; their log output goes
to a file the tests read.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.core.conftest import REQUEST_ID
from tests.gateway_process import gateway_process

KEY_A = "sk-hostile-alice-0123456789abcdef"
KEY_B = "sk-hostile-bob-fedcba9876543210"
SERVER = {
    "header_timeout": 2,
    "body_timeout": 2,
    "keep_alive_timeout": 2,
    "max_connections_per_client": 40,
    "max_url_bytes": 8192,
    "max_header_bytes": 16384,
    "max_headers": 60,
    "max_json_depth": 64,
    "allowed_hosts": ["gw.internal"],
    "allowed_origins": ["https://app.example"],
}


@dataclass(frozen=True)
class Gateway:
    url: str
    port: int
    log: Path
    pid: int

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


def start(tmp: Path, doc: dict[str, Any]) -> Iterator[Gateway]:
    doc = {
        "server": SERVER,
        "storage": {"database_url": f"sqlite+aiosqlite:///{tmp / 'gateway.db'}"},
        # a routing table, so that /v1/models lists the Claude ids it routes (never contacted: nothing listens there)
        "model_list": [
            {"model_name": "claude", "litellm_params": {"model": "anthropic/*", "api_base": "http://127.0.0.1:9"}}
        ],
        **doc,
    }
    config = tmp / "config.yaml"
    config.write_text(yaml.safe_dump(doc), encoding="utf-8")
    log = tmp / "gateway.log"
    with gateway_process(config, {"HOSTILE_KEY_A": KEY_A, "HOSTILE_KEY_B": KEY_B}, log_file=log) as (proc, url):
        yield Gateway(url=url, port=int(url.rsplit(":", 1)[1]), log=log, pid=proc.pid)


@pytest.fixture(scope="session")
def local_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """Local mode: no gateway keys."""
    yield from start(tmp_path_factory.mktemp("hostile-local"), {})


@pytest.fixture(scope="session")
def keyed_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """Two keys in two workspaces (``team-a``, ``team-b``)."""
    keys = [
        {"key": "os.environ/HOSTILE_KEY_A", "name": "alice", "workspace": "team-a"},
        {"key": "os.environ/HOSTILE_KEY_B", "name": "bob", "workspace": "team-b"},
    ]
    # usage counts models.list here (messages would need an upstream)
    usage = {"limits": {"five_hour": 100}, "operations": ["native.models.list"]}
    models = [{"id": f"claude-hostile-{i}", "display_name": f"Hostile {i}"} for i in range(3)]  # what /v1/models lists
    doc = {
        "gateway": {"api_keys": keys},
        "passthrough": {"local": {"usage": usage}},
        "model_list": [{"model_name": "claude", "litellm_params": {"model": "anthropic/*"}}],
        "routing": {"default": "claude", "models": models},
    }
    yield from start(tmp_path_factory.mktemp("hostile-keyed"), doc)


@dataclass(frozen=True)
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def envelope(self, status: int, error_type: str = "invalid_request_error") -> str:
        """Check the Anthropic error envelope (and its request id, header = body); return the message."""
        assert self.status == status, (self.status, self.body[:300])
        assert self.headers.get("content-type") == "application/json", self.headers
        doc = json.loads(self.body)
        assert set(doc) == {"type", "error", "request_id"} and doc["type"] == "error"
        assert doc["error"]["type"] == error_type
        assert REQUEST_ID.match(self.headers["request-id"]) and doc["request_id"] == self.headers["request-id"]
        message: str = doc["error"]["message"]
        return message


def raw_request(port: int, data: bytes, timeout: float = 10.0) -> RawResponse:
    """Send raw bytes on a new loopback connection and read one response (until the server closes or it is whole)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed before taking everything: read what it said
        return read_response(sock)


def read_response(sock: socket.socket) -> RawResponse:
    buffer = b""
    while True:
        head, sep, rest = buffer.partition(b"\r\n\r\n")
        if sep:
            lines = head.decode("latin-1").split("\r\n")
            headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
            length = int(headers.get("content-length", "-1"))
            if 0 <= length <= len(rest):
                return RawResponse(int(lines[0].split()[1]), headers, rest[:length])
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            raise AssertionError(f"connection closed before a whole response: {buffer[:300]!r}")
        buffer += chunk
