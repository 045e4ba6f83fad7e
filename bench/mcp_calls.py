"""MCP toolsets: what one MCP operation costs the gateway (issue 11).

    .venv/bin/python bench/mcp_calls.py              # 30 of each
    .venv/bin/python bench/mcp_calls.py --runs 10

Through :mod:`gateway.runtime.mcp.client` against :class:`bench.fakes.mcp_server.McpFake` (the ``mcp`` package's
MCPServer over streamable HTTP on 127.0.0.1, bearer token checked): ``list`` is what every model request of a session
with an ``mcp_toolset`` pays (a new connection, the protocol probe, ``tools/list``), ``call`` what one
``agent.mcp_tool_use`` pays. Printed: median and 90th percentile in milliseconds."""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `bench` and `gateway` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.fakes.mcp_server import McpFake
from gateway.runtime.mcp import client

TOKEN = "bench-token"


async def _measure(label: str, operation: Callable[[], Awaitable[Any]], runs: int) -> None:
    await operation()  # warm-up
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        await operation()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    p90 = times[min(len(times) - 1, int(len(times) * 0.9))]
    print(f"{label:5} median {statistics.median(times):7.1f} ms   p90 {p90:7.1f} ms")


async def main(url: str, runs: int) -> None:
    await _measure("list", lambda: client.list_tools(url, TOKEN, 10), runs)
    await _measure("call", lambda: client.call_tool(url, TOKEN, 10, "add", {"a": 1, "b": 2}), runs)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    with McpFake(TOKEN) as server:
        asyncio.run(main(server.url, args.runs))
