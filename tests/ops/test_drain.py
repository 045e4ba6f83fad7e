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


async def test_subscription_streams_end_when_the_server_stops_accepting(
    slow_upstream: AnthropicFake, tmp_path: Path
) -> None:
    """A session's event stream only ends with its session: a drain ends it with the error event at once (the
    client resumes elsewhere with Last-Event-ID), while a Messages stream opened beside it runs to its end."""
    with gateway(config(slow_upstream.url, ops={"drain_grace_seconds": 60}), tmp_path) as gw:
        async with httpx.AsyncClient(base_url=gw.url, headers=HEADERS, timeout=60) as admin:
            agent = (await admin.post("/v1/agents", json={"name": "drained", "model": "claude-haiku-4-5"})).json()
            environment = (await admin.post("/v1/environments", json={"name": "drained"})).json()
            session = await admin.post("/v1/sessions", json={"agent": agent["id"], "environment_id": environment["id"]})
            assert session.status_code == 200, session.text
        subscribed = asyncio.Event()
        ended_at: list[float] = []

        async def subscription() -> bytes:
            body = b""
            path = f"{gw.url}/v1/sessions/{session.json()['id']}/events/stream"
            async with httpx.AsyncClient(timeout=60) as client, client.stream("GET", path, headers=HEADERS) as r:
                assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
                subscribed.set()
                async for chunk in r.aiter_bytes():
                    body += chunk
            ended_at.append(time.monotonic())
            return body

        watcher = asyncio.create_task(subscription())
        await asyncio.wait_for(subscribed.wait(), timeout=30)
        tasks, client = await open_streams(gw, 1)
        signalled = time.monotonic()
        gw.proc.send_signal(signal.SIGTERM)
        watched = await asyncio.wait_for(watcher, timeout=10)
        assert ended_at[0] - signalled < 5  # not the 60 s grace period
        assert not tasks[0].done()  # the finite stream is still running
        answer = await tasks[0]
        await client.aclose()
        assert await exit_code(gw, 30) == 0
    last = watched.rstrip().split(b"\n\n")[-1]
    assert last.startswith(b"event: error\n") and b"overloaded_error" in last, watched[-300:]
    assert b"message_stop" in answer and b"event: error" not in answer
