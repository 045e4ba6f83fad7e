"""Issue 17, point 7 (the part the gateway can do): an upstream error whose body is not JSON (a proxy's HTML page,
plain text) reaches the client as the Anthropic envelope with the upstream's status; JSON errors still pass through
byte for byte. (What the HTTP parser refuses is in test_http_limits.py.)"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from aiohttp import web

from tests.core.conftest import assert_envelope
from tests.hostile.conftest import Gateway, start
from tests.proxy.fake_upstream import FakeUpstream, Received

PROFILE = "/api/oauth/profile"
JSON_ERROR = b'{"type":"error","error":{"type":"permission_error","message":"nope"},"request_id":"req_up"}'


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    fake = FakeUpstream("api").start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def passthrough_gateway(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    hosts = {"api": upstream.url, "platform": upstream.url, "claude_ai": upstream.url}
    yield from start(
        tmp_path_factory.mktemp("hostile-upstream"), {"passthrough": {"mode": "passthrough", "upstreams": hosts}}
    )


def answer(status: int, body: bytes, content_type: str) -> object:
    async def handler(_request: web.Request, _record: Received) -> web.StreamResponse:
        return web.Response(status=status, body=body, headers={"content-type": content_type, "request-id": "req_up"})

    return handler


@pytest.mark.parametrize(
    ("status", "body", "content_type", "error_type"),
    [
        (502, b"<html><body>Bad gateway</body></html>", "text/html", "api_error"),
        (503, b"upstream connect error or disconnect/reset before headers", "text/plain", "api_error"),
        (429, b"slow down", "", "rate_limit_error"),
    ],
)
def test_a_non_json_upstream_error_is_enveloped(
    upstream: FakeUpstream, passthrough_gateway: Gateway, status: int, body: bytes, content_type: str, error_type: str
) -> None:
    upstream.script(PROFILE, answer(status, body, content_type))  # type: ignore[arg-type]
    response = httpx.get(f"{passthrough_gateway.url}{PROFILE}", headers={"authorization": "Bearer sk-ant-oat-x"})
    message = assert_envelope(response, status, error_type)
    assert "non-JSON body" in message and body.decode() not in response.text
    assert response.headers["upstream-request-id"] == "req_up"


def test_a_json_upstream_error_passes_through_unchanged(upstream: FakeUpstream, passthrough_gateway: Gateway) -> None:
    upstream.script(PROFILE, answer(403, JSON_ERROR, "application/json"))  # type: ignore[arg-type]
    response = httpx.get(f"{passthrough_gateway.url}{PROFILE}", headers={"authorization": "Bearer sk-ant-oat-x"})
    assert response.status_code == 403 and response.content == JSON_ERROR
