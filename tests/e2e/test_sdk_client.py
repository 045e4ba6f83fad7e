"""The official anthropic SDK (strict response validation) against a real gateway process.

Nothing is implemented behind the native/custom operations yet, so what the SDK must see is the contract's honest
answers: Anthropic error envelopes that it maps to its own exception classes, with the request id it exposes.
"""

from __future__ import annotations

import anthropic
import httpx
import pytest

from handlers.custom import tunnels
from tests.e2e.conftest import KEY


def _client(url: str, key: str = KEY) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=url, api_key=key, max_retries=0, _strict_response_validation=True)


def test_planned_operation_is_a_501_the_sdk_understands(gateway_url: str) -> None:
    with pytest.raises(anthropic.APIStatusError) as info:
        _client(gateway_url).beta.tunnels.list()
    err = info.value
    assert err.status_code == 501
    assert err.type == "api_error"
    assert err.api_message == f"custom.tunnels.list is not implemented yet in this gateway: {tunnels.REASON}"
    assert err.request_id and err.request_id.startswith("req_")
    assert isinstance(err.body, dict) and err.body["request_id"] == err.request_id


def test_wrong_key_is_an_authentication_error(gateway_url: str) -> None:
    with pytest.raises(anthropic.AuthenticationError) as info:
        _client(gateway_url, key="sk-wrong-key-000").beta.agents.list()
    assert info.value.status_code == 401
    assert "sk-wrong-key-000" not in str(info.value)


def test_bad_body_is_a_bad_request_error(gateway_url: str) -> None:
    client = _client(gateway_url)
    with pytest.raises(anthropic.BadRequestError) as info:
        client.post("/v1/messages", body={"model": "claude-sonnet-5-5", "messages": []}, cast_to=httpx.Response)
    assert info.value.status_code == 400
    assert "max_tokens" in str(info.value)


def test_unknown_resource_is_not_found(gateway_url: str) -> None:
    with pytest.raises(anthropic.NotFoundError):
        _client(gateway_url).get("/v1/nonexistent", cast_to=httpx.Response)


def test_health_and_head_root_answer(gateway_url: str) -> None:
    health = httpx.get(f"{gateway_url}/healthcheck")
    assert health.status_code == 200
    assert health.json()["status"] == "healthy"
    assert health.headers["request-id"].startswith("req_")
    assert httpx.head(f"{gateway_url}/").status_code == 200
