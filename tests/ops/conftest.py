"""Real gateway processes (`litellm-gateway serve`, one or several workers) in front of bench.fakes upstreams on
127.0.0.1, with their log lines in a file the tests read."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml

from bench.fakes import AnthropicFake, Behavior, Text
from tests.gateway_process import free_port

KEY = "sk-gw-ops-test-secret-0123456789"
HEADERS = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}


@dataclass
class Gateway:
    proc: subprocess.Popen[bytes]
    url: str
    log: Path

    def lines(self) -> list[dict[str, Any]]:
        """The JSON log lines so far (every line must be JSON: a text line fails the test)."""
        text = self.log.read_text(errors="replace")
        return [orjson.loads(line) for line in text.splitlines() if line.strip()]

    def lines_once(self, wanted: Callable[[dict[str, Any]], bool], timeout: float = 10) -> list[dict[str, Any]]:
        """The JSON log lines once one of them satisfies `wanted` (the access line is written after the response
        has been sent, so a client can read the log before it is there)."""
        deadline = time.monotonic() + timeout
        while True:
            lines = self.lines()
            if any(wanted(line) for line in lines) or time.monotonic() > deadline:
                return lines
            time.sleep(0.05)

    def access(self) -> list[dict[str, Any]]:
        return [line for line in self.lines() if line.get("logger") == "gateway.access"]

    def stop(self, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)


def config(
    upstream: str, *, storage: dict[str, Any] | None = None, ops: dict[str, Any] | None = None
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "gateway": {"api_keys": [{"key": KEY, "name": "ops-team", "workspace": "ws-ops"}]},
        "model_list": [
            {"model_name": "fake", "litellm_params": {"model": "anthropic/*", "api_base": upstream, "api_key": "k"}}
        ],
        "routing": {"default": "fake"},
        "runtime": {"run_sessions": False},
    }
    if storage is not None:
        doc["storage"] = storage
    if ops is not None:
        doc["ops"] = ops
    return doc


@contextmanager
def gateway(
    doc: dict[str, Any], tmp_path: Path, *, workers: int = 1, env: dict[str, str] | None = None
) -> Iterator[Gateway]:
    """`litellm-gateway serve` with ``doc``; yields once ``/healthz`` answers; stops it (SIGTERM) at the end."""
    name = f"gw-{free_port()}"
    path = tmp_path / f"{name}.yaml"
    if "storage" not in doc:
        doc = {**doc, "storage": {"database_url": f"sqlite+aiosqlite:///{tmp_path / (name + '.db')}"}}
    path.write_text(yaml.safe_dump(doc))
    port = free_port()
    log = tmp_path / f"{name}.log"
    script = Path(sys.executable).with_name("litellm-gateway")
    argv = [str(script), "serve", "--config", str(path), "--port", str(port), "--log-level", "info"]
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [*argv, "--workers", str(workers)], env={**os.environ, **(env or {})}, stdout=sink, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            pytest.fail(f"gateway did not start: {log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.1)
    running = Gateway(proc, url, log)
    try:
        yield running
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def upstream() -> Iterator[AnthropicFake]:
    fake = AnthropicFake(Behavior(content=[Text("hello from the ops fake")]), name="ops-fake").start()
    try:
        yield fake
    finally:
        fake.stop()


def message(stream: bool = False, model: str = "claude-sonnet-4-5") -> dict[str, Any]:
    return {"model": model, "max_tokens": 64, "stream": stream, "messages": [{"role": "user", "content": "hi"}]}
