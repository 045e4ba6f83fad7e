"""Anthropic-wire routes forward the query string and every client header except hop-by-hop headers, the gateway's
own credentials and the headers a hygiene rule changes (README: "Header forwarding")."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from bench.fakes import AnthropicFake
from tests.native.conftest import KEY, running_gateway

CLIENT_HEADERS = {
    "x-api-key": KEY,
    "user-agent": "claude-cli/2.1.332 (external, sdk-cli)",
    "x-app": "cli",
    "x-stainless-lang": "js",
    "x-stainless-retry-count": "0",
    "x-stainless-timeout": "600",
    "x-claude-code-session-id": "3f1c-session",
    "anthropic-dangerous-direct-browser-access": "true",
    "anthropic-beta": "claude-code-20250219,interleaved-thinking-2025-05-14",
    "anthropic-version": "2023-06-01",
    "connection": "keep-alive, x-hop-only",
    "x-hop-only": "for the next hop only",
    "cookie": "session=secret-cookie",
}
FORWARDED = (
    "user-agent",
    "x-app",
    "x-stainless-lang",
    "x-stainless-retry-count",
    "x-stainless-timeout",
    "x-claude-code-session-id",
    "anthropic-dangerous-direct-browser-access",
)
BODY = b'{"model": "claude-opus-5-5", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}'


def _config(fake: AnthropicFake) -> dict[str, Any]:
    return {
        "model_list": [
            {
                "model_name": "claude",
                "litellm_params": {"model": "anthropic/*", "api_base": fake.url, "api_key": "sk-a"},
            },
            {
                "model_name": "deepseek",
                "litellm_params": {
                    "model": "deepseek/deepseek-v4-pro",
                    "api_base": f"{fake.url}/anthropic",
                    "api_key": "sk-d",
                },
            },
        ],
        "routing": {"default": "claude"},
    }


@pytest.mark.parametrize(
    ("model", "path", "key", "betas"),
    [
        ("claude-opus-5-5", "/v1/messages", "sk-a", CLIENT_HEADERS["anthropic-beta"]),
        ("deepseek", "/anthropic/v1/messages", "sk-d", None),  # betas are Anthropic's: kept from other backends
    ],
)
def test_client_headers_and_query_reach_the_upstream(
    fake: AnthropicFake, model: str, path: str, key: str, betas: str | None
) -> None:
    with running_gateway(_config(fake)) as url:
        r = httpx.post(
            f"{url}/v1/messages?beta=true",
            content=BODY.replace(b"claude-opus-5-5", model.encode()),
            headers={**CLIENT_HEADERS, "content-type": "application/json"},
        )
    assert r.status_code == 200, r.text
    assert r.headers["upstream-request-id"].startswith("req_fake")
    sent = fake.requests[0]
    assert (sent.path, sent.query_string) == (path, "beta=true")
    for name in FORWARDED:
        assert sent.header(name) == CLIENT_HEADERS[name], name
    assert sent.header("anthropic-beta") == betas
    assert sent.header("x-api-key") == key  # the deployment's key replaces the gateway key
    assert sent.header("x-hop-only") is None  # named by Connection: hop-by-hop
    assert sent.header("cookie") is None
    assert KEY not in str(sent.headers)


def test_count_tokens_forwards_the_query_too(fake: AnthropicFake) -> None:
    with running_gateway(_config(fake)) as url:
        r = httpx.post(
            f"{url}/v1/messages/count_tokens?beta=true",
            content=b'{"model": "claude-opus-5-5", "messages": [{"role": "user", "content": "hi"}]}',
            headers={"x-api-key": KEY, "content-type": "application/json", "x-stainless-lang": "python"},
        )
    assert r.status_code == 200, r.text
    sent = fake.requests[0]
    assert (sent.path, sent.query_string, sent.header("x-stainless-lang")) == (
        "/v1/messages/count_tokens",
        "beta=true",
        "python",
    )
