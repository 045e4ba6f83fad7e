"""A real gateway process: the `litellm-gateway serve` console script on a free loopback port, for the tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def gateway_process(
    config: Path, env: Mapping[str, str], log_file: Path | None = None, command: Sequence[str] = ()
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """Start the gateway with ``config`` (extra environment ``env``); yields (process, base URL) once healthy.
    With ``log_file`` the process's output goes there (a pipe nobody reads would stall a chatty gateway).
    ``command`` replaces the console script (e.g. ``python -S -m gateway.cli``)."""
    port = free_port()
    script = Path(sys.executable).with_name("litellm-gateway")
    output = log_file.open("wb") if log_file is not None else subprocess.PIPE
    proc = subprocess.Popen(
        [*(command or [str(script)]), "serve", "--config", str(config), "--port", str(port), "--log-level", "warning"],
        env={**os.environ, **env},
        stdout=output,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthcheck", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.1)
    else:
        proc.kill()
        proc.wait()
        out = proc.stdout.read().decode() if proc.stdout else log_file.read_text() if log_file else ""
        pytest.fail(f"gateway did not start: {out[-2000:]}")
    try:
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=20)
        if log_file is not None:
            output.close()  # type: ignore[union-attr]


@contextmanager
def debug_gateway(config: Path, log: Path, env: Mapping[str, str] | None = None) -> Iterator[str]:
    """``litellm-gateway serve --log-level debug``, stdout and stderr into ``log`` (a file: no pipe to fill up);
    yields the base URL once healthy."""
    port = free_port()
    script = Path(sys.executable).with_name("litellm-gateway")
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [str(script), "serve", "--config", str(config), "--port", str(port), "--log-level", "debug"],
            env={**os.environ, **(env or {})},
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{url}/healthcheck", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail(f"gateway did not start: {log.read_text(errors='replace')[-2000:]}")
                time.sleep(0.1)
            yield url
        finally:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=20)
