"""Issue 17, points 4 and 7: header limits answer 431 (and an over-long target 414) in the Anthropic envelope, before
anything reaches the application or an upstream; what the HTTP parser refuses is answered in the envelope too."""

from __future__ import annotations

import httpx
import pytest

from tests.core.conftest import assert_envelope
from tests.hostile.conftest import KEY_A, SERVER, Gateway, raw_request

HEAD = b"GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\n"


def test_a_one_megabyte_header_gets_431(keyed_gateway: Gateway) -> None:
    data = HEAD + b"x-api-key: " + KEY_A.encode() + b"\r\nx-big: " + b"a" * 1024 * 1024 + b"\r\n\r\n"
    message = raw_request(keyed_gateway.port, data).envelope(431)
    assert str(SERVER["max_header_bytes"]) in message


def test_five_thousand_headers_get_431(keyed_gateway: Gateway) -> None:
    many = b"".join(b"x-h-%d: v\r\n" % i for i in range(5000))
    data = HEAD + b"x-api-key: " + KEY_A.encode() + b"\r\n" + many + b"\r\n"
    message = raw_request(keyed_gateway.port, data).envelope(431)
    assert str(SERVER["max_headers"]) in message


def test_headers_just_under_the_limits_are_served(keyed_gateway: Gateway) -> None:
    headers = {"x-api-key": KEY_A, **{f"x-h-{i}": "v" for i in range(40)}, "x-big": "a" * 8000}
    response = httpx.get(f"{keyed_gateway.url}/v1/models", headers=headers)
    assert response.status_code == 200, response.text


def test_an_over_long_request_target_gets_414(keyed_gateway: Gateway) -> None:
    data = b"GET /v1/models?q=" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    message = raw_request(keyed_gateway.port, data).envelope(414)
    assert "request target is too long" in message


@pytest.mark.parametrize(
    ("request_bytes", "reason"),
    [
        (b"GET /v1/\xffmodels HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", "Invalid char in url"),
        (b"POST /v1/agents HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", "Duplicate"),
        (b"POST /v1/agents HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1x\r\n\r\n", "Content-Length"),
        (b"GARBAGE\r\n\r\n", ""),
    ],
    ids=["0xff-in-path", "duplicate-content-length", "bad-content-length", "not-http"],
)
def test_what_the_parser_refuses_is_answered_in_the_envelope(
    keyed_gateway: Gateway, request_bytes: bytes, reason: str
) -> None:
    message = raw_request(keyed_gateway.port, request_bytes).envelope(400)
    assert message.startswith("invalid HTTP request") and reason in message


def test_the_gateway_still_answers_after_the_refusals(keyed_gateway: Gateway) -> None:
    response = httpx.get(f"{keyed_gateway.url}/v1/models", headers={"x-api-key": "wrong-key-0123456789"})
    assert_envelope(response, 401, "authentication_error")
    assert "Traceback" not in keyed_gateway.log_text()
