"""What metrics, the JSON access line and the request facts add per request (issue 14, Observability).

    .venv/bin/python bench/ops_overhead.py             # 8 rounds x 1,000 requests per variant and kind
    .venv/bin/python bench/ops_overhead.py --quick     # 3 rounds x 300

Two apps built from the same config in this process, driven through ASGI directly (no HTTP client or server: what is
measured is the gateway's own code, including its aiohttp call to the upstream):

- ``ops``: the ops service as ``litellm-gateway serve`` runs it (metrics, facts, the access line, JSON formatting to
  a handler writing to /dev/null at INFO);
- ``baseline``: the same app with the ops service left out of the lifespan (the middleware then passes requests
  through untouched, the native service gets no-op hooks) and nothing logged per request.

The upstream is the Anthropic-wire fake in its own process (``python -m bench.fakes``), so its CPU is not counted.
First the parts in isolation (the metric updates of one routed request; one JSON access line through logging to
/dev/null), then the whole path. Requests are sequential; rounds alternate baseline / ops; each round reports CPU
per request (``time.process_time`` over the round, this process only) and the figure is the median over rounds of
(ops - baseline), for non-streamed and streamed (SSE) Messages requests. Tracing is off (its default).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
import orjson

from gateway import services
from gateway.app import create_app
from gateway.ops.logformat import json_formatter
from gateway.settings import settings_from_mapping

KEY = "sk-gw-bench-ops-0123456789"
ASGIApp = Callable[[dict[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]


def start_fake() -> tuple[subprocess.Popen[bytes], str]:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    argv = [sys.executable, "-m", "bench.fakes", "anthropic", "--port", str(port), "--no-record", "--chunks", "8"]
    proc = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=Path(__file__).parent.parent
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            httpx.get(f"{url}/_fake/script", timeout=0.5)
            break
        except httpx.TransportError:
            time.sleep(0.05)
    return proc, url


def config(fake: str, tmp: Path, name: str) -> dict[str, Any]:
    return {
        "gateway": {"api_keys": [{"key": KEY, "name": "bench", "workspace": "bench"}]},
        "model_list": [
            {"model_name": "fake", "litellm_params": {"model": "anthropic/*", "api_base": fake, "api_key": "k"}}
        ],
        "routing": {"default": "fake"},
        "storage": {"database_url": f"sqlite+aiosqlite:///{tmp / (name + '.db')}"},
        "runtime": {"run_sessions": False},
    }


async def start(app: ASGIApp) -> tuple[dict[str, Any], Callable[[], Awaitable[None]]]:
    """Run the app's lifespan startup; returns its state and the shutdown."""
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    scope: dict[str, Any] = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    task = asyncio.create_task(app(scope, inbox.get, outbox.put))
    await inbox.put({"type": "lifespan.startup"})
    message = await outbox.get()
    assert message["type"] == "lifespan.startup.complete", message

    async def stop() -> None:
        await inbox.put({"type": "lifespan.shutdown"})
        await outbox.get()
        await task

    return scope["state"], stop


async def call(app: ASGIApp, state: dict[str, Any], body: bytes) -> bytes:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/messages",
        "raw_path": b"/v1/messages",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1:4000"),
            (b"content-type", b"application/json"),
            (b"x-api-key", KEY.encode()),
            (b"anthropic-version", b"2023-06-01"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 4000),
        "state": dict(state),
    }
    sent = False
    chunks: list[bytes] = []
    never = asyncio.Event()

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await never.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            assert message["status"] == 200, message
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return b"".join(chunks)


async def round_cpu(app: ASGIApp, state: dict[str, Any], body: bytes, count: int) -> float:
    """CPU seconds of this process per request over ``count`` sequential requests."""
    before = time.process_time()
    for _ in range(count):
        await call(app, state, body)
    return (time.process_time() - before) / count


async def main(rounds: int, count: int) -> None:
    fake, url = start_fake()
    real_factories = services._factories
    handler = logging.FileHandler(os.devnull)
    handler.setFormatter(json_formatter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root.setLevel(logging.WARNING)
            services._factories = lambda: tuple(f for f in real_factories() if f.__name__ != "ops_service")  # type: ignore[assignment]
            baseline = create_app(settings_from_mapping(config(url, Path(tmp), "baseline")))
            base_state, base_stop = await start(baseline)
            services._factories = real_factories
            ops = create_app(settings_from_mapping(config(url, Path(tmp), "ops")))
            ops_state, ops_stop = await start(ops)
            assert "ops" in ops_state and "ops" not in base_state
            results: dict[str, list[float]] = {}
            for kind, stream in (("json", False), ("sse", True)):
                body = orjson.dumps(
                    {
                        "model": "claude-sonnet-4-5",
                        "max_tokens": 64,
                        "stream": stream,
                        "messages": [{"role": "user", "content": "hello"}],
                    }
                )
                for app, state in ((baseline, base_state), (ops, ops_state)):  # warm-up
                    await round_cpu(app, state, body, max(50, count // 10))
                deltas, base_values, ops_values = [], [], []
                for _ in range(rounds):
                    root.setLevel(logging.WARNING)
                    b = await round_cpu(baseline, base_state, body, count)
                    root.setLevel(logging.INFO)  # the ops variant logs its access line, as serve does
                    o = await round_cpu(ops, ops_state, body, count)
                    base_values.append(b)
                    ops_values.append(o)
                    deltas.append(o - b)
                results[kind] = deltas
                print(
                    f"{kind:4}: baseline {statistics.median(base_values) * 1e6:8.1f} us CPU/request, "
                    f"ops {statistics.median(ops_values) * 1e6:8.1f} us, added (median of {rounds} rounds) "
                    f"{statistics.median(deltas) * 1e6:6.1f} us (min {min(deltas) * 1e6:.1f}, max "
                    f"{max(deltas) * 1e6:.1f})"
                )
            root.setLevel(logging.WARNING)
            await base_stop()
            await ops_stop()
    finally:
        services._factories = real_factories
        root.removeHandler(handler)
        fake.terminate()
        fake.wait()


def components(count: int) -> None:
    """The parts in isolation, CPU per request (no event loop, no I/O but the write to /dev/null): the metric updates
    of one routed request, and one JSON access line through logging."""
    from gateway.ops.config import OpsConfig
    from gateway.ops.metrics import Metrics
    from gateway.ops.service import Ops

    metrics = Metrics()

    def update() -> None:
        metrics.in_flight.inc()
        metrics.requests.labels("native.messages.create", "fake", "fake/1", "200").inc()
        metrics.duration.labels("native.messages.create", "fake").observe(0.8)
        metrics.ttfb.labels("native.messages.create", "fake").observe(0.3)
        metrics.tokens.labels("fake", "fake/1", "input").inc(25)
        metrics.tokens.labels("fake", "fake/1", "output").inc(7)
        metrics.upstream_attempts.labels("fake/1", "ok").inc()
        metrics.upstream_latency.labels("fake/1").observe(0.3)
        metrics.in_flight.dec()

    line = {
        "event": "request",
        "request_id": "req_4fZk0qg2mX1L9aBcDeFgHiJk",
        "method": "POST",
        "path": "/v1/messages",
        "operation": "native.messages.create",
        "key_name": "bench",
        "workspace": "bench",
        "status": 200,
        "duration_ms": 812.31,
        "ttfb_ms": 301.2,
        "stream": True,
        "route_group": "fake",
        "deployment": "fake/1",
        "model": "claude-sonnet-4-5",
        "tier": "sonnet",
        "effort": "",
        "attempts": ["fake/1"],
        "failovers": 0,
        "tokens": {"input": 25, "output": 7, "cache_read": 0, "cache_creation": 0},
    }
    ops = Ops.__new__(Ops)  # log_access needs the config only
    ops.config = OpsConfig()
    handler = logging.FileHandler(os.devnull)
    handler.setFormatter(json_formatter())
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        for name, work in (("metric updates", update), ("JSON access line", lambda: ops.log_access(dict(line)))):
            per_round = []
            for _ in range(5):
                before = time.process_time()
                for _ in range(count):
                    work()
                per_round.append((time.process_time() - before) / count)
            print(f"{name:17}: {statistics.median(per_round) * 1e6:6.1f} us CPU/request (median of 5 x {count})")
    finally:
        root.removeHandler(handler)
        root.setLevel(logging.WARNING)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    components(2000 if args.quick else 20000)
    asyncio.run(main(3, 300) if args.quick else main(8, 1000))
