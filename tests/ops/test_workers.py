"""`serve --workers 2` on PostgreSQL: both processes serve one port, /metrics from either sums both, a worker killed
with SIGKILL is replaced while the other keeps serving, SIGTERM stops the whole gateway with exit status 0."""

from __future__ import annotations

import os
import signal
import tempfile
import time
from pathlib import Path

import httpx

from bench.fakes import AnthropicFake
from tests.ops.conftest import HEADERS, KEY, config, gateway, message
from tests.ops.test_metrics_and_logs import samples, value
from tests.storage.conftest import storage_section

REQUESTS = 40


def scrape(url: str) -> float:
    with httpx.Client(headers={"x-api-key": KEY}) as client:  # a new connection: any worker may answer
        text = client.get(f"{url}/metrics").text
    return value(samples(text), "gateway_requests_total", operation="native.messages.create", status="200")


def test_two_workers_on_postgresql(upstream: AnthropicFake, tmp_path: Path) -> None:
    with (
        storage_section("postgresql", tmp_path) as storage,
        gateway(config(upstream.url, storage=storage), tmp_path, workers=2) as gw,
    ):
        for _ in range(REQUESTS):
            with httpx.Client(headers=HEADERS, timeout=30) as client:  # one connection per request
                assert client.post(f"{gw.url}/v1/messages", json=message()).status_code == 200
        served_by = {line["pid"] for line in gw.access() if line["path"] == "/v1/messages"}
        assert len(served_by) == 2, served_by  # the kernel spread the connections over both workers
        assert gw.proc.pid not in served_by  # the supervisor serves nothing itself
        assert list(Path(tempfile.gettempdir()).glob(f"litellm-gateway-metrics-{gw.proc.pid}-*"))
        assert {scrape(gw.url) for _ in range(6)} == {REQUESTS}  # whichever worker answers, the sum of both

        victim = sorted(served_by)[0]
        os.kill(victim, signal.SIGKILL)
        for _ in range(10):  # the other worker keeps serving meanwhile
            with httpx.Client(headers=HEADERS, timeout=30) as client:
                assert client.post(f"{gw.url}/v1/messages", json=message()).status_code == 200
        deadline = time.monotonic() + 60
        while True:  # a replacement worker starts
            pids = {line["pid"] for line in gw.lines() if "pid" in line} - served_by - {gw.proc.pid}
            if pids:
                break
            assert time.monotonic() < deadline, "no worker replaced the killed one"
            time.sleep(0.5)
        assert scrape(gw.url) == REQUESTS + 10  # the killed worker's counts are kept
        assert gw.stop() == 0
    left = list(Path(tempfile.gettempdir()).glob(f"litellm-gateway-metrics-{gw.proc.pid}-*"))
    assert left == []  # the supervisor removed the metrics directory it made
