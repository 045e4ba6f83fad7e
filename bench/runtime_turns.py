"""Session runtime: overhead per model step (model time excluded) and concurrent turns in one process (issue 10).

    .venv/bin/python bench/runtime_turns.py                          # 40 sequential turns, 200 concurrent turns
    .venv/bin/python bench/runtime_turns.py --quick                  # 10 and 50
    .venv/bin/python bench/runtime_turns.py --database postgresql    # the machine's PostgreSQL (a fresh schema)

Processes on 127.0.0.1: the gateway (``litellm-gateway serve``, SQLite, every model id routed to the fake) and the
Anthropic-wire fake (in this process's background thread). Baseline, measured in the same run: the same streaming
Messages request sent straight to the fake. A turn is one ``user.message`` answered by one text reply; its runtime
time is read from the stored events (``user.message`` → ``session.status_idle``), so the client's polling does not
count, and the sequential client waits ``FIRST_POLL`` before its first look (a poll is a request the gateway's loop
would serve beside the turn, and Managed Agents clients stream rather than poll). Overhead per step = median turn time
minus median direct request time. Concurrency: N sessions get their message at once while the fake holds every reply for
``--latency`` seconds; printed: wall time until all are idle, and the largest number of model requests that were in
flight together (from the span events). The client sends every message first and only then polls (every ``POLL``
seconds), so its own polling does not load the gateway while the turns start.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
import yaml

from bench.fakes import AnthropicFake, Behavior, Text

KEY = "sk-bench-runtime-0123456789"
PG_URL = os.environ.get("GATEWAY_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
POLL = 0.25
#: the sequential client's first look at a session after sending its message (a turn takes tens of milliseconds)
FIRST_POLL = 0.1
#: below the gateway's keep-alive timeout (5 s), so a pooled connection is never reused as the server closes it
KEEPALIVE = 4.0
HEADERS = {"x-api-key": KEY, "anthropic-version": "2023-06-01", "anthropic-beta": "managed-agents-2026-04-01"}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc; steadier than wall time on a loaded machine)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _when(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


async def _pg(statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_URL.replace("postgresql+asyncpg://", "postgresql://"), timeout=5)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def start_gateway(fake_url: str, tmp: Path, storage: dict[str, Any]) -> tuple[subprocess.Popen[bytes], str]:
    config = {
        "gateway": {"api_keys": [{"key": KEY, "name": "bench", "workspace": "bench"}]},
        "storage": storage,
        "model_list": [{"model_name": "fake", "litellm_params": {"model": "anthropic/*", "api_base": fake_url}}],
        "routing": {"default": "fake"},
    }
    (tmp / "gateway.yaml").write_text(yaml.safe_dump(config))
    port = 4700 + os.getpid() % 200
    script = Path(sys.executable).with_name("litellm-gateway")
    cmd = [str(script), "serve", "--config", str(tmp / "gateway.yaml"), "--port", str(port), "--log-level", "warning"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{url}/healthcheck", timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("gateway did not start")


async def direct(fake_url: str, n: int) -> list[float]:
    body = {
        "model": "claude-haiku-5-5",
        "max_tokens": 8192,
        "stream": True,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
    }
    out = []
    async with httpx.AsyncClient(base_url=fake_url, timeout=30) as client:
        for _ in range(n):
            started = time.perf_counter()
            async with client.stream("POST", "/v1/messages", json=body, headers=HEADERS) as response:
                async for _chunk in response.aiter_bytes():
                    pass
            out.append(time.perf_counter() - started)
    return out


async def _session(client: httpx.AsyncClient, agent: str, env: str) -> str:
    created = await client.post("/v1/sessions", json={"agent": agent, "environment_id": env})
    return str(created.json()["id"])


async def _send(client: httpx.AsyncClient, session_id: str) -> None:
    event = {"type": "user.message", "content": [{"type": "text", "text": "hi"}]}
    response = await client.post(f"/v1/sessions/{session_id}/events", json={"events": [event]})
    response.raise_for_status()


async def _finished(
    client: httpx.AsyncClient, session_id: str, within: float = 120, every: float = 0.05
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        events = (await client.get(f"/v1/sessions/{session_id}/events", params={"limit": 1000})).json()["data"]
        if events and events[-1]["type"] == "session.status_idle":
            return list(events)
        await asyncio.sleep(every)
    raise SystemExit(f"session {session_id} did not finish")


GAPS = (
    ("user.message", "span.model_request_start", "message stored -> model request started"),
    ("span.model_request_start", "session.status_idle", "model request started -> idle stored"),
)


def gaps(logs: list[list[dict[str, Any]]]) -> list[str]:
    """Where a turn's time goes, from the stored events' timestamps (medians over the turns)."""
    out = []
    for first, last, label in GAPS:
        spans = []
        for events in logs:
            at = {e["type"]: _when(e["processed_at"]) for e in reversed(events)}
            spans.append(at[last] - at[first])
        out.append(f"  {label}: median {statistics.median(spans) * 1000:.2f} ms")
    return out


async def turns(url: str, sequential: int) -> tuple[list[float], list[list[dict[str, Any]]]]:
    async with httpx.AsyncClient(
        base_url=url, headers=HEADERS, timeout=60, limits=httpx.Limits(max_connections=32, keepalive_expiry=KEEPALIVE)
    ) as c:
        env = (await c.post("/v1/environments", json={"name": f"bench-{time.time_ns()}"})).json()["id"]
        agent = (await c.post("/v1/agents", json={"name": "bench", "model": "claude-haiku-5-5"})).json()["id"]
        times, logs = [], []
        for _ in range(sequential):
            session_id = await _session(c, agent, env)
            await _send(c, session_id)
            await asyncio.sleep(FIRST_POLL)  # the turn runs alone on the gateway's loop, without a poll beside it
            events = await _finished(c, session_id)
            times.append(_when(events[-1]["processed_at"]) - _when(events[0]["processed_at"]))
            logs.append(events)
        return times, logs


async def _concurrent(c: httpx.AsyncClient, agent: str, env: str, n: int, latency: float) -> tuple[float, int]:
    ids = await asyncio.gather(*(_session(c, agent, env) for _ in range(n)))
    await asyncio.gather(*(_send(c, s) for s in ids))
    await asyncio.sleep(latency)
    logs = await asyncio.gather(*(_finished(c, s, every=POLL) for s in ids))
    # wall time from the first message stored to the last idle stored (the server's clock, not the polling)
    wall = max(_when(e[-1]["processed_at"]) for e in logs) - min(_when(e[0]["processed_at"]) for e in logs)
    spans = []
    for events in logs:
        start = next(_when(e["processed_at"]) for e in events if e["type"] == "span.model_request_start")
        end = next(_when(e["processed_at"]) for e in events if e["type"] == "span.model_request_end")
        spans.append((start, end))
    peak = max(sum(1 for s, e in spans if s <= t < e) for t, _ in spans)
    return wall, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--latency", type=float, default=2.0, help="model latency of the concurrent phase (s)")
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--turns", type=int, help="sequential turns (default 40, 10 with --quick)")
    args = parser.parse_args()
    sequential, concurrent = (10, 50) if args.quick else (40, 200)
    sequential = args.turns or sequential
    schema = f"bench_runtime_{os.getpid()}"
    with (
        tempfile.TemporaryDirectory(prefix="bench-runtime-") as tmp,
        AnthropicFake(Behavior(content=[Text("hello")]), record=False) as fake,
    ):
        storage: dict[str, Any] = {"database_url": f"sqlite+aiosqlite:///{Path(tmp) / 'gateway.db'}"}
        if args.database == "postgresql":
            storage = {"database_url": PG_URL, "schema": schema}
        proc, url = start_gateway(fake.url, Path(tmp), storage)
        try:
            base = asyncio.run(direct(fake.url, sequential))
            cpu_before = cpu_seconds(proc.pid)
            steps, logs = asyncio.run(turns(url, sequential))
            cpu_per_turn = (cpu_seconds(proc.pid) - cpu_before) / sequential
            fake.default = Behavior(content=[Text("hello")], latency_s=args.latency)
            wall, peak = asyncio.run(_run_concurrent(url, concurrent, args.latency))
        finally:
            proc.terminate()
            proc.wait(10)
            if args.database == "postgresql":
                asyncio.run(_pg(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    print(f"database: {args.database}")
    direct_ms, turn_ms = statistics.median(base) * 1000, statistics.median(steps) * 1000
    print(f"direct streaming request to the fake (baseline): median {direct_ms:.2f} ms over {len(base)}")
    print(f"runtime turn, user.message -> idle (1 model step): median {turn_ms:.2f} ms over {len(steps)}")
    print(f"runtime overhead per step: {turn_ms - direct_ms:.2f} ms (turn / direct = {turn_ms / direct_ms:.1f}x)")
    print("\n".join(gaps(logs)))
    print(
        f"gateway CPU per sequential turn: {cpu_per_turn * 1000:.2f} ms (with the client's requests around it: the "
        "session's creation, the message POST, the events GETs)"
    )
    print(
        f"{concurrent} concurrent turns, model latency {args.latency:.1f} s: all idle after {wall:.2f} s "
        f"({wall / args.latency:.2f}x the model latency); peak model requests in flight: {peak}"
    )


async def _run_concurrent(url: str, n: int, latency: float) -> tuple[float, int]:
    async with httpx.AsyncClient(
        base_url=url, headers=HEADERS, timeout=120, limits=httpx.Limits(max_connections=64, keepalive_expiry=KEEPALIVE)
    ) as c:
        env = (await c.post("/v1/environments", json={"name": f"bench-c-{time.time_ns()}"})).json()["id"]
        agent = (await c.post("/v1/agents", json={"name": "bench", "model": "claude-haiku-5-5"})).json()["id"]
        return await _concurrent(c, agent, env, n, latency)


if __name__ == "__main__":
    main()
