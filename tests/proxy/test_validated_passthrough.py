"""``validate_responses: true`` on pass-through responses: a gzip-encoded JSON body is validated after decoding (and
still reaches the client byte for byte); an SSE stream is relayed as it comes, unvalidated (no schema describes it)."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from aiohttp import web

from tests.proxy.conftest import Gateway, start_gateway, stop_gateway
from tests.proxy.fake_upstream import FakeUpstream, Received


@pytest.fixture(scope="module")
def validating(passthrough_config: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    config = {**passthrough_config, "gateway": {**passthrough_config["gateway"], "validate_responses": True}}
    gateway = start_gateway(config, tmp_path_factory.mktemp("validating"), name="validating")
    yield gateway
    stop_gateway(gateway)


def test_gzip_json_is_validated_and_forwarded_unchanged(validating: Gateway, fakes: dict[str, FakeUpstream]) -> None:
    answer = gzip.compress(b'{"status":"accepted"}')

    async def respond(request: web.Request, record: Received) -> web.StreamResponse:
        await fakes["api"].read_body(request, record)
        response = web.Response(body=answer, status=200, content_type="application/json")
        response.headers["Content-Encoding"] = "gzip"
        return response

    fakes["api"].script("/api/event_logging/v2/batch", respond)
    with httpx.stream(
        "POST",
        validating.url + "/api/event_logging/v2/batch",
        content=b'{"events": []}',
        headers={"content-type": "application/json", "accept-encoding": "gzip"},
    ) as response:
        raw = b"".join(response.iter_raw())
    assert response.status_code == 200, raw
    assert raw == answer and response.headers["content-encoding"] == "gzip"


def test_sse_is_relayed_with_validation_on(validating: Gateway, fakes: dict[str, FakeUpstream]) -> None:
    events = [f"event: ping\ndata: {json.dumps({'n': i})}\n\n".encode() for i in range(3)]

    async def sse(request: web.Request, record: Received) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "text/event-stream", "cache-control": "no-cache"})
        await response.prepare(request)
        for event in events:
            await response.write(event)
            await asyncio.sleep(0.05)
        await response.write_eof()
        return response

    fakes["api"].script("/api/oauth/usage", sse)
    with httpx.stream("GET", validating.url + "/api/oauth/usage") as response:
        data = b"".join(response.iter_raw())
    assert response.status_code == 200, data
    assert data == b"".join(events)


def test_a_gzip_body_that_breaks_the_contract_is_still_caught(
    validating: Gateway, fakes: dict[str, FakeUpstream]
) -> None:
    async def respond(request: web.Request, record: Received) -> web.StreamResponse:
        await fakes["api"].read_body(request, record)
        response = web.Response(body=gzip.compress(b"not json at all"), status=200, content_type="application/json")
        response.headers["Content-Encoding"] = "gzip"
        return response

    fakes["api"].script("/api/event_logging/v2/batch", respond)
    response = httpx.post(
        validating.url + "/api/event_logging/v2/batch",
        content=b'{"events": []}',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 500  # validated after decoding: the decoded body is not JSON
