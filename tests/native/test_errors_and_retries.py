"""Upstream errors reach the client as they are, and the gateway never multiplies upstream attempts.

Real gateway (uvicorn) in front of real fake upstreams (bench.fakes) on 127.0.0.1; the official SDK and httpx as
clients, with the SDK's own retries off so that every upstream request is the gateway's doing.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import pytest

from bench.fakes import AnthropicFake, Behavior, OpenAIFake
from gateway.errors import render_gateway_error
from gateway.native import upstream_status
from gateway.routing.config import parse_routing
from gateway.upstream.wire import FailedAttempt
from tests.native.conftest import KEY, client, running_gateway

MSG: dict[str, Any] = {"max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}


def _deployment(fake: AnthropicFake | str, **params: Any) -> dict[str, Any]:
    base = fake if isinstance(fake, str) else fake.url
    return {"model": "anthropic/*", "api_base": base, "api_key": "sk-up", **params}


def _config(*groups: tuple[str, list[dict[str, Any]]], **router: Any) -> dict[str, Any]:
    models = [{"model_name": name, "litellm_params": params} for name, deps in groups for params in deps]
    return {
        "model_list": models,
        "router_settings": {"cooldown_time": 60, **router},
        "routing": {"default": groups[0][0]},
    }


def _refused_url() -> str:
    """A loopback port nobody listens on (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
def openai_fake() -> Iterator[OpenAIFake]:
    with OpenAIFake() as server:
        yield server


def _post(url: str, **extra: Any) -> httpx.Response:
    return httpx.post(
        f"{url}/v1/messages", json={"model": "claude-opus-5-5", **MSG, **extra}, headers={"x-api-key": KEY}, timeout=30
    )


@pytest.mark.parametrize(
    ("status", "error_type", "message"),
    [
        (529, "overloaded_error", "Overloaded"),
        (500, "api_error", "boom: the upstream's own words"),
        (503, "api_error", "service unavailable upstream"),
    ],
)
def test_one_deployment_error_reaches_the_client_as_it_is(
    fake: AnthropicFake, status: int, error_type: str, message: str
) -> None:
    fake.script(Behavior(status=status, error_message=message, retry_after=3, headers={"x-should-retry": "true"}))
    with running_gateway(_config(("main", [_deployment(fake)]))) as url:
        r = _post(url)
    assert r.status_code == status
    body = r.json()
    assert body["error"] == {"type": error_type, "message": message}
    assert body["request_id"] == r.headers["request-id"]  # the gateway's own request id in the envelope
    assert r.headers["upstream-request-id"].startswith("req_fake")  # the upstream's, renamed
    assert r.headers["retry-after"] == "3"
    assert r.headers["x-should-retry"] == "true"
    assert r.headers["x-gateway-route"] == "tier=opus; effort=-; group=main; deployment=main/1"
    assert len(fake.requests) == 1  # num_retries defaults to 0: no second attempt on the same deployment


def test_x_should_retry_false_stops_failover_and_reaches_the_client(fake: AnthropicFake, fake2: AnthropicFake) -> None:
    fake.script(Behavior(status=529, headers={"x-should-retry": "false"}))
    config = _config(("main", [_deployment(fake)]), ("backup", [_deployment(fake2)]), fallbacks=[{"main": ["backup"]}])
    with running_gateway(config) as url:
        r = _post(url)
    assert r.status_code == 529
    assert r.headers["x-should-retry"] == "false"
    assert fake2.requests == []  # never failed over: the upstream said the request must not be retried


def test_failover_goes_to_each_other_deployment_once(fake: AnthropicFake, fake2: AnthropicFake) -> None:
    fake.default = Behavior(status=529)
    fake2.default = Behavior(status=529, error_message="second deployment overloaded")
    config = _config(("main", [_deployment(fake), _deployment(fake2)]))
    with running_gateway(config) as url:
        r = _post(url)
    assert r.status_code == 529
    assert r.json()["error"]["message"] in (
        "fake upstream: overloaded_error (status 529)",
        "second deployment overloaded",
    )
    assert (len(fake.requests), len(fake2.requests)) == (1, 1)  # worst case = 2 deployments x (1 + 0 retries)


def test_num_retries_retries_the_same_deployment(fake: AnthropicFake) -> None:
    fake.script(Behavior(status=500), Behavior(status=503))
    config = _config(("main", [_deployment(fake)]), num_retries=2)
    assert parse_routing(config, environ={}).max_attempts == 3
    with running_gateway(config) as url:
        message = client(url).messages.create(model="claude-opus-5-5", **MSG)
    assert message.content[0].text == "Hello from anthropic-fake"  # type: ignore[union-attr]
    assert len(fake.requests) == 3


def test_client_errors_are_neither_retried_nor_failed_over(fake: AnthropicFake, fake2: AnthropicFake) -> None:
    fake.default = fake2.default = Behavior(status=400, error_message="messages.0: nope")
    config = _config(("main", [_deployment(fake), _deployment(fake2)]), num_retries=3)
    with running_gateway(config) as url:
        r = _post(url)
    assert r.status_code == 400 and r.json()["error"]["message"] == "messages.0: nope"
    assert len(fake.requests) + len(fake2.requests) == 1


def test_no_upstream_answering_is_a_502_naming_the_attempts() -> None:
    dead, dead2 = _refused_url(), _refused_url()
    config = _config(("main", [_deployment(dead), _deployment(dead2)]))
    with running_gateway(config) as url:
        r = _post(url)
    assert r.status_code == 502
    message = r.json()["error"]["message"]
    assert "no upstream answered (2 attempted" in message
    assert "main/1: connection failed" in message and "main/2: connection failed" in message
    assert r.headers["x-gateway-route"].startswith("tier=opus; effort=-; group=main; deployment=main/")


def test_a_timeout_is_a_504(fake: AnthropicFake) -> None:
    fake.script(Behavior(latency_s=2.0))
    with running_gateway(_config(("main", [_deployment(fake, timeout=0.5)]))) as url:
        r = _post(url)
    assert r.status_code == 504 and r.json()["error"]["type"] == "timeout_error"
    assert "main/1: timed out" in r.json()["error"]["message"]


def test_an_answer_beats_a_connection_failure(fake: AnthropicFake) -> None:
    fake.script(Behavior(status=529))
    config = _config(
        ("main", [_deployment(fake)]), ("dead", [_deployment(_refused_url())]), fallbacks=[{"main": ["dead"]}]
    )
    with running_gateway(config) as url:
        r = _post(url)
    assert r.status_code == 529 and r.json()["error"]["type"] == "overloaded_error"
    assert r.headers["x-gateway-route"].endswith("deployment=main/1")


def _openai_config(fake: OpenAIFake) -> dict[str, Any]:
    params = {"model": "openai/gpt-fake", "api_base": f"{fake.url}/v1", "api_key": "sk-oa"}
    return {"model_list": [{"model_name": "oa", "litellm_params": params}], "routing": {"default": "oa"}}


@pytest.mark.parametrize(
    ("status", "error_type"), [(429, "rate_limit_error"), (500, "api_error"), (400, "invalid_request_error")]
)
def test_translated_backend_errors_keep_their_status_and_are_not_retried_inside_litellm(
    openai_fake: OpenAIFake, status: int, error_type: str
) -> None:
    openai_fake.default = Behavior(status=status, retry_after=5, error_message="provider says no")
    with running_gateway(_openai_config(openai_fake)) as url:
        r = _post(url)
    assert r.status_code == status
    assert r.json()["error"]["type"] == error_type
    assert "provider says no" in r.json()["error"]["message"]
    assert r.headers["x-gateway-route"].endswith("deployment=oa/1")
    assert len(openai_fake.requests) == 1  # litellm and the OpenAI SDK under it make no retries of their own


def test_upstream_error_details_are_carried_in_the_envelope() -> None:
    deployment = parse_routing(_config(("main", [_deployment("http://127.0.0.1:9")])), environ={}).groups["main"][0]
    body = (
        b'{"type":"error","error":{"type":"invalid_request_error","message":"stale","details":{"current_state":"x"}}}'
    )
    failure = FailedAttempt(deployment, "upstream answered 412", status=412, body=body, headers={"request-id": "req_1"})
    error = upstream_status(failure, {"x-gateway-route": "r"})
    response = render_gateway_error(error, "req_gw")
    assert response.status_code == 412
    assert bytes(response.body) == (
        b'{"type":"error","error":{"type":"invalid_request_error","message":"stale","details":{"current_state":"x"}},'
        b'"request_id":"req_gw"}'
    )
    assert response.headers["upstream-request-id"] == "req_1"
    # a body that is not an error envelope is quoted, not lost
    plain = FailedAttempt(deployment, "upstream answered 502", status=502, body=b"<html>bad gateway</html>")
    assert upstream_status(plain, {}).message == "upstream main/1 answered 502: <html>bad gateway</html>"


def test_the_sdk_sees_the_upstream_status_class(fake: AnthropicFake) -> None:
    fake.script(Behavior(status=529))
    with running_gateway(_config(("main", [_deployment(fake)]))) as url:
        with pytest.raises(anthropic.APIStatusError) as info:
            client(url).messages.create(model="claude-opus-5-5", **MSG)
    assert info.value.status_code == 529 and info.value.type == "overloaded_error"
