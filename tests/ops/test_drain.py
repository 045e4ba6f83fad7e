"""SIGTERM on a real gateway process: open streams finish, readiness says so, the grace period and a second
SIGTERM end streams with an SSE error event (never a silent truncation), and the process exits 0."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bench.fakes import AnthropicFake, Behavior, Text
from tests.ops.conftest import HEADERS, Gateway, config, gateway, message

STREAMS = 50


@pytest.fixture
def slow_upstream() -> Iterator[AnthropicFake]:
    """About 3 s per stream: 15 events 0.2 s apart."""
    behavior = Behavior(content=[Text("a slow answer, in ten pieces", chunks=10)], event_delay_s=0.2)
    fake = AnthropicFake(behavior, name="slow-fake", record=False, validate=False).start()
    try:
        yield fake
    finally:
        fake.stop()


async def open_streams(gw: Gateway, count: int) -> tuple[list[asyncio.Task[bytes]], httpx.AsyncClient]:
    """``count`` streaming requests, each read to its end in a task; returns once every one got its first bytes."""
    client = httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=count + 5))
    started = [asyncio.Event() for _ in range(count)]

    async def one(index: int) -> bytes:
        body = b""
        async with client.stream("POST", f"{gw.url}/v1/messages", json=message(stream=True), headers=HEADERS) as r:
            assert r.status_code == 200
            async for chunk in r.aiter_bytes():
                body += chunk
                started[index].set()
        return body

    tasks = [asyncio.create_task(one(i)) for i in range(count)]
    await asyncio.wait_for(asyncio.gather(*(e.wait() for e in started)), timeout=30)
    return tasks, client


async def exit_code(gw: Gateway, within: float) -> int:
    deadline = time.monotonic() + within
    while gw.proc.poll() is None:
        assert time.monotonic() < deadline, "the gateway did not exit"
        await asyncio.sleep(0.1)
    return gw.proc.returncode


async def test_sigterm_lets_fifty_open_streams_finish(slow_upstream: AnthropicFake, tmp_path: Path) -> None:
    with gateway(config(slow_upstream.url), tmp_path) as gw:
        tasks, client = await open_streams(gw, STREAMS)
        signalled = time.monotonic()
        gw.proc.send_signal(signal.SIGTERM)
        bodies = await asyncio.gather(*tasks)
        await client.aclose()
        assert await exit_code(gw, 30) == 0
        assert time.monotonic() - signalled > 1.0  # it waited for the streams, it did not cut them
    for body in bodies:
        assert body.rstrip().endswith(b'data: {"type":"message_stop"}') or b"message_stop" in body.split(b"\n\n")[-2]
        assert b"event: error" not in body


async def test_grace_period_ends_streams_with_an_error_event(tmp_path: Path) -> None:
    behavior = Behavior(content=[Text("a very slow answer", chunks=40)], event_delay_s=0.5)  # about 20 s
    fake = AnthropicFake(behavior, name="slower-fake", record=False, validate=False).start()
    try:
        with gateway(config(fake.url, ops={"drain_grace_seconds": 1}), tmp_path) as gw:
            tasks, client = await open_streams(gw, 3)
            signalled = time.monotonic()
            gw.proc.send_signal(signal.SIGTERM)
            bodies = await asyncio.gather(*tasks)
            await client.aclose()
            assert await exit_code(gw, 15) == 0
            assert time.monotonic() - signalled < 8
    finally:
        fake.stop()
    for body in bodies:
        last = body.rstrip().split(b"\n\n")[-1]
        assert last.startswith(b"event: error\n") and b"overloaded_error" in last, body[-300:]
        assert b"message_stop" not in body


async def test_second_sigterm_ends_streams_at_once(tmp_path: Path) -> None:
    behavior = Behavior(content=[Text("a very slow answer", chunks=40)], event_delay_s=0.5)
    fake = AnthropicFake(behavior, name="slower-fake", record=False, validate=False).start()
    try:
        with gateway(config(fake.url, ops={"drain_grace_seconds": 60}), tmp_path) as gw:
            tasks, client = await open_streams(gw, 2)
            gw.proc.send_signal(signal.SIGTERM)
            await asyncio.sleep(1.0)
            assert not any(t.done() for t in tasks)  # the first SIGTERM lets them run
            second = time.monotonic()
            gw.proc.send_signal(signal.SIGTERM)
            bodies = await asyncio.gather(*tasks)
            await client.aclose()
            assert await exit_code(gw, 15) == 0
            assert time.monotonic() - second < 5
    finally:
        fake.stop()
    for body in bodies:
        assert body.rstrip().split(b"\n\n")[-1].startswith(b"event: error\n")


async def test_readiness_goes_unready_while_draining(slow_upstream: AnthropicFake, tmp_path: Path) -> None:
    with gateway(config(slow_upstream.url, ops={"drain_announce_seconds": 3}), tmp_path) as gw:
        async with httpx.AsyncClient(timeout=30) as client:
            ready = await client.get(f"{gw.url}/readyz")
            assert ready.status_code == 200 and ready.json()["checks"]["database"]["status"] == "ok"
            gw.proc.send_signal(signal.SIGTERM)
            await asyncio.sleep(0.5)
            unready = await client.get(f"{gw.url}/readyz")
            assert unready.status_code == 503
            assert unready.json()["error"]["type"] == "overloaded_error"
            readiness = (await client.get(f"{gw.url}/health/readiness")).json()
            assert readiness["status"] == "not_ready" and readiness["checks"]["drain"]["status"] == "fail"
            served = await client.post(f"{gw.url}/v1/messages", json=message(), headers=HEADERS)
            assert served.status_code == 200  # still accepting during the announce delay
        assert await exit_code(gw, 30) == 0
