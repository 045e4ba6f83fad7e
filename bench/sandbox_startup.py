"""Cloud executor: what a sandboxed tool call costs next to a plain subprocess (issue 11).

    .venv/bin/python bench/sandbox_startup.py            # 50 calls of each kind
    .venv/bin/python bench/sandbox_startup.py --calls 10

Measured in one run, on this machine, through the executors' own ``run`` (the gateway's code path minus the HTTP
and the event log): the baseline is ``bash -c true`` as a plain ``asyncio`` subprocess; then the same command through
the ``process`` executor; the ``sandbox`` executor (bubblewrap) in a session that exists (per call), in a new session
each time (per session: the directory is made, then the call), and with ``limited`` networking (the egress proxy's
forwarder starts inside the sandbox on every call; the proxy itself once per session). Printed: median milliseconds
and the ratio to the baseline."""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `bench` and `gateway` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.runtime.executor import Limits, Network
from gateway.runtime.executor.process import ProcessExecutor
from gateway.runtime.executor.sandbox import SandboxExecutor, probe

LIMITS = Limits(timeout_s=30, max_output_bytes=100_000, memory_mb=2048, file_mb=1024, processes=256)


async def _median_ms(calls: int, once: Callable[[int], Awaitable[object]]) -> float:
    await once(-1)  # warm-up
    times = []
    for index in range(calls):
        started = time.perf_counter()
        await once(index)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


async def main(calls: int) -> None:
    problem = probe()
    if problem is not None:
        sys.exit(f"no sandbox on this machine: {problem}")
    with tempfile.TemporaryDirectory() as tmp:
        sandbox = SandboxExecutor(Path(tmp) / "sandbox", LIMITS)
        process = ProcessExecutor(Path(tmp) / "process", LIMITS)

        async def plain(_index: int) -> None:
            proc = await asyncio.create_subprocess_exec("/bin/bash", "-c", "true")
            await proc.wait()

        rows: list[tuple[str, Callable[[int], Awaitable[object]]]] = [
            ("plain subprocess (baseline)", plain),
            ("process executor", lambda _i: process.run("sesn_p", "true", network=Network(), timeout_s=30)),
            ("sandbox, per call", lambda _i: sandbox.run("sesn_s", "true", network=Network(), timeout_s=30)),
            ("sandbox, per session", lambda i: sandbox.run(f"sesn_n{i + 1}", "true", network=Network(), timeout_s=30)),
            (
                "sandbox, limited networking",
                lambda _i: sandbox.run("sesn_l", "true", network=Network("limited", ("pypi.org",)), timeout_s=30),
            ),
        ]
        baseline = None
        print(f"{'kind':32} {'median ms':>10} {'x baseline':>11}   ({calls} calls each)")
        for name, once in rows:
            median = await _median_ms(calls, once)
            baseline = baseline or median
            print(f"{name:32} {median:10.1f} {median / baseline:11.1f}")
        await sandbox.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=50)
    asyncio.run(main(parser.parse_args().calls))
