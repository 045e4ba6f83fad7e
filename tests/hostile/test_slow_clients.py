"""Issue 17, point 3: connections that send nothing, half the headers or half a body are closed by the configured
timeouts (408 in the envelope), an idle keep-alive connection by the keep-alive timeout, and one client address cannot
hold more than ``max_connections_per_client``; the gateway keeps answering meanwhile. Loopback only, bounded: about
20 seconds for the whole module."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.hostile.conftest import Gateway, RawResponse, read_response, start

TIMEOUT = 2.0
PER_CLIENT = 160
EACH = 50  # silent, half-header and half-body connections: 150 < PER_CLIENT, so the health checks still get in


@pytest.fixture(scope="module")
def slow_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    tmp: Path = tmp_path_factory.mktemp("hostile-slow")
    server = {
        "header_timeout": TIMEOUT,
        "body_timeout": TIMEOUT,
        "keep_alive_timeout": TIMEOUT,
        "max_connections_per_client": PER_CLIENT,
    }
    yield from start(tmp, {"server": server})


def connect(port: int, data: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=15)
    if data:
        sock.sendall(data)
    return sock


def outcome(sock: socket.socket) -> tuple[float, RawResponse | None]:
    """(seconds until the server answered or closed, its answer if any)."""
    try:
        response: RawResponse | None = read_response(sock)
    except AssertionError:  # closed without a response
        response = None
    return time.monotonic(), response


def test_stalled_connections_are_closed_by_the_timeouts(slow_gateway: Gateway) -> None:
    port = slow_gateway.port
    half_body = (
        b"POST /v1/agents HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/json\r\n"
        b'content-length: 1000\r\n\r\n{"name": "half'
    )
    opened = time.monotonic()
    stalled = (
        [connect(port, b"") for _ in range(EACH)]
        + [connect(port, b"POST /v1/agents HTTP/1.1\r\nHost: 127.0.0.1\r\nx-half: ") for _ in range(EACH)]
        + [connect(port, half_body) for _ in range(EACH)]
    )
    try:
        # the gateway keeps answering others (even from the same address) while they hang
        started = time.monotonic()
        health = httpx.get(f"{slow_gateway.url}/healthcheck", timeout=TIMEOUT)
        assert health.status_code == 200 and time.monotonic() - started < TIMEOUT
        results = [outcome(sock) for sock in stalled]
    finally:
        for sock in stalled:
            sock.close()
    latest = max(at for at, _ in results) - opened
    earliest = min(at for at, _ in results) - opened
    print(f"{len(results)} stalled connections closed between {earliest:.2f} s and {latest:.2f} s")  # notes (-s)
    assert earliest >= TIMEOUT * 0.9, earliest  # closed by the timeouts, not by something else
    assert latest < TIMEOUT + 4, latest  # all of them: the bound the configuration promises (plus scheduling slack)
    for _at, response in results:
        assert response is not None
        message = response.envelope(408)
        assert "not received within" in message or "stalled" in message
    stalled_bodies = [r for _at, r in results[2 * EACH :] if r is not None and "stalled" in r.envelope(408)]
    assert len(stalled_bodies) == EACH
    assert httpx.get(f"{slow_gateway.url}/healthcheck").status_code == 200


def test_an_idle_keep_alive_connection_is_closed(slow_gateway: Gateway) -> None:
    with connect(slow_gateway.port, b"GET /healthcheck HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n") as sock:
        assert read_response(sock).status == 200
        answered = time.monotonic()
        sock.settimeout(TIMEOUT + 5)
        assert sock.recv(1) == b""  # the server closed it
        assert TIMEOUT * 0.9 <= time.monotonic() - answered < TIMEOUT + 2


def test_one_address_cannot_hold_more_connections_than_configured(slow_gateway: Gateway) -> None:
    held = [connect(slow_gateway.port, b"") for _ in range(PER_CLIENT)]
    try:
        time.sleep(0.3)  # let the server accept them all
        with connect(slow_gateway.port, b"") as extra:
            refused = time.monotonic()
            message = read_response(extra).envelope(429, "rate_limit_error")
            assert str(PER_CLIENT) in message and time.monotonic() - refused < 1
    finally:
        for sock in held:
            sock.close()
    deadline = time.monotonic() + 5  # closed connections free their slots
    while httpx.get(f"{slow_gateway.url}/healthcheck").status_code != 200:
        assert time.monotonic() < deadline
        time.sleep(0.1)
