"""Start-up and footprint of one gateway process (issue 15): time to a healthy ``/healthcheck``, RSS, the first and
second request of a few operation kinds, and ``GET /openapi.json``.

    .venv/bin/python bench/footprint.py

A real ``litellm-gateway serve`` (one key, SQLite in a temporary directory, every model id routed to the
Anthropic-wire fake running in this process's background thread). Baseline, measured in the same run: the start-up
of a bare ``python -c "import uvicorn"`` process, and each operation's second request (its first pays for whatever
the gateway builds lazily). The machine's load average is printed: these figures move with it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
import yaml

from bench.fakes import AnthropicFake, Behavior, Text

KEY = "sk-bench-footprint-0123456789"
HEADERS = {"x-api-key": KEY, "anthropic-version": "2023-06-01", "anthropic-beta": "managed-agents-2026-04-01"}
MESSAGE = {"model": "claude-haiku-4-5", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc): steadier than wall time on a loaded machine."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bare_start() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import uvicorn"], check=True)
    return time.perf_counter() - started


def timed(call: Callable[[], httpx.Response]) -> tuple[int, float]:
    started = time.perf_counter()
    response = call()
    return response.status_code, (time.perf_counter() - started) * 1000


def main() -> None:
    print(f"load average: {os.getloadavg()[0]:.2f} (2-core figures move with it)")
    print(f"baseline: a bare `python -c 'import uvicorn'` process: {bare_start():.2f} s")
    with tempfile.TemporaryDirectory() as tmp, AnthropicFake(Behavior(content=[Text("hello")]), record=False) as fake:
        config = {
            "gateway": {"api_keys": [{"key": KEY, "name": "bench", "workspace": "bench"}]},
            "storage": {"database_url": f"sqlite+aiosqlite:///{tmp}/gateway.db"},
            "model_list": [{"model_name": "fake", "litellm_params": {"model": "anthropic/*", "api_base": fake.url}}],
            "routing": {"default": "fake"},
        }
        Path(tmp, "gateway.yaml").write_text(yaml.safe_dump(config))
        port = 4600 + os.getpid() % 200
        script = Path(sys.executable).with_name("litellm-gateway")
        started = time.perf_counter()
        cmd = [str(script), "serve", "--config", f"{tmp}/gateway.yaml", "--port", str(port), "--log-level", "warning"]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        try:
            while True:
                try:
                    if httpx.get(f"{url}/healthcheck", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.02)
            print(f"cold start to a healthy /healthcheck: {time.perf_counter() - started:.2f} s")
            print(f"CPU of the process until healthy: {cpu_seconds(proc.pid):.2f} s (user + system)")
            print(f"RSS when healthy: {rss_mib(proc.pid):.0f} MiB")
            with httpx.Client(base_url=url, headers=HEADERS, timeout=60) as c:
                calls: dict[str, Callable[[], httpx.Response]] = {
                    "POST /v1/messages": lambda: c.post("/v1/messages", json=MESSAGE),
                    "POST /v1/messages/count_tokens": lambda: c.post(
                        "/v1/messages/count_tokens", json={k: MESSAGE[k] for k in ("model", "messages")}
                    ),
                    "POST /v1/agents": lambda: c.post("/v1/agents", json={"name": "a", "model": "claude-haiku-4-5"}),
                    "POST /v1/environments": lambda: c.post("/v1/environments", json={"name": f"e{time.time_ns()}"}),
                }
                for label, call in calls.items():
                    status, first = timed(call)
                    _, second = timed(call)
                    print(f"{label}: {status}, first {first:.0f} ms, second {second:.1f} ms ({first / second:.1f}x)")
                print(f"RSS after those: {rss_mib(proc.pid):.0f} MiB")
                for attempt in ("first", "second"):
                    status, took = timed(lambda: c.get("/openapi.json"))
                    wire = c.get("/openapi.json", headers={"accept-encoding": "gzip"})
                    size = wire.headers.get("content-length")
                    print(f"GET /openapi.json ({attempt}): {status}, {took:.1f} ms, {len(wire.content)} bytes", end="")
                    print(f" ({size} on the wire with gzip)")
        finally:
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    main()
