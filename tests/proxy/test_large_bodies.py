"""100 MB through the proxy each way, with the gateway process's resident memory sampled all along.

The gateway runs as its own process (``litellm-gateway serve``) so its RSS is its own; a sampler thread reads
``/proc/<pid>/status`` every 20 ms. A proxy that buffered the body would grow by at least 100 MB.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from aiohttp import web

from tests.proxy.conftest import Gateway, start_gateway, stop_gateway
from tests.proxy.fake_upstream import FakeUpstream, Received

MiB = 1024 * 1024
SIZE = 100 * MiB
CHUNK = MiB
BOUND_KIB = 40 * 1024  # growth allowed over the idle RSS: well under the 100 MB body


@pytest.fixture(scope="module")
def big_gateway(fakes: dict[str, FakeUpstream], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    config: dict[str, Any] = {
        "gateway": {"max_request_body_bytes": 256 * MiB},
        "passthrough": {"mode": "passthrough", "upstreams": {"api": fakes["api"].url}, "timeouts": {"read": 30}},
    }
    gw = start_gateway(config, tmp_path_factory.mktemp("big"), name="big")
    yield gw
    stop_gateway(gw)


class RssSampler:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(self.gateway.rss_kib())
            time.sleep(0.02)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()


def pattern(i: int) -> bytes:
    return bytes([i % 251]) * CHUNK


def expected_digest() -> str:
    digest = hashlib.sha256()
    for i in range(SIZE // CHUNK):
        digest.update(pattern(i))
    return digest.hexdigest()


def warm_up(gateway: Gateway) -> int:
    for _ in range(3):
        httpx.post(gateway.url + "/api/oauth/claude_cli/create_api_key", content=b"x" * CHUNK)
        httpx.get(gateway.url + "/api/oauth/profile")
    time.sleep(0.2)
    return gateway.rss_kib()


def test_a_100_mb_upload_streams_with_bounded_memory(big_gateway: Gateway, fakes: dict[str, FakeUpstream]) -> None:
    idle = warm_up(big_gateway)
    fakes["api"].reset()

    def body() -> Iterator[bytes]:
        for i in range(SIZE // CHUNK):
            yield pattern(i)

    with RssSampler(big_gateway) as sampler:
        started = time.monotonic()
        response = httpx.post(
            big_gateway.url + "/api/oauth/claude_cli/create_api_key",
            content=body(),
            headers={"content-length": str(SIZE), "content-type": "application/octet-stream"},
            timeout=60,
        )
        elapsed = time.monotonic() - started
    assert response.status_code == 200
    (record,) = fakes["api"].records
    assert record.size == SIZE and record.sha256 == expected_digest()
    growth = max(sampler.samples) - idle
    print(f"upload 100 MiB: idle RSS {idle} KiB, peak {max(sampler.samples)} KiB (+{growth} KiB), {elapsed:.2f} s")
    assert growth < BOUND_KIB, f"gateway RSS grew by {growth} KiB while streaming 100 MiB up"


def test_a_100_mb_download_streams_with_bounded_memory(big_gateway: Gateway, fakes: dict[str, FakeUpstream]) -> None:
    idle = warm_up(big_gateway)

    async def big(request: web.Request, record: Received) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "application/octet-stream"})
        response.content_length = SIZE
        await response.prepare(request)
        for i in range(SIZE // CHUNK):
            await response.write(pattern(i))
            if i % 8 == 0:
                await asyncio.sleep(0)
        await response.write_eof()
        return response

    fakes["api"].script("/api/claude_cli/bootstrap", big)
    digest = hashlib.sha256()
    size = 0
    with RssSampler(big_gateway) as sampler:
        started = time.monotonic()
        with httpx.stream("GET", big_gateway.url + "/api/claude_cli/bootstrap", timeout=60) as response:
            assert response.headers["content-length"] == str(SIZE)
            for chunk in response.iter_raw():
                size += len(chunk)
                digest.update(chunk)
        elapsed = time.monotonic() - started
    assert size == SIZE and digest.hexdigest() == expected_digest()
    growth = max(sampler.samples) - idle
    print(f"download 100 MiB: idle RSS {idle} KiB, peak {max(sampler.samples)} KiB (+{growth} KiB), {elapsed:.2f} s")
    assert growth < BOUND_KIB, f"gateway RSS grew by {growth} KiB while streaming 100 MiB down"
