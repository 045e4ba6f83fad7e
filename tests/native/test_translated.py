"""Translated backends (litellm → OpenAI chat wire) through the gateway, with the official anthropic SDK (strict)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bench.fakes import Behavior, OpenAIFake, Text, Thinking, ToolUse
from tests.native.conftest import client, running_gateway

MSG: dict[str, Any] = {"max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def openai_fake() -> Iterator[OpenAIFake]:
    with OpenAIFake() as server:
        yield server


def _config(fake: OpenAIFake) -> dict[str, Any]:
    return {
        "model_list": [
            {
                "model_name": "oa",
                "litellm_params": {"model": "openai/gpt-fake", "api_base": f"{fake.url}/v1", "api_key": "sk-oa"},
            }
        ],
        "routing": {"default": "oa"},
    }


def test_non_streaming_tool_use_is_translated(openai_fake: OpenAIFake) -> None:
    openai_fake.script(Behavior(content=[Text("Checking."), ToolUse("get_weather", {"city": "Paris"})]))
    with running_gateway(_config(openai_fake)) as url:
        raw = client(url).messages.with_raw_response.create(
            model="claude-sonnet-5-5",
            tools=[
                {"name": "get_weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}
            ],
            system=[
                {"type": "text", "text": "x-anthropic-billing-header: cc_version=1; cch=abcde;"},
                {"type": "text", "text": "Be brief."},
            ],
            **MSG,
        )
        message = raw.parse()
    assert [b.type for b in message.content] == ["text", "tool_use"]
    assert message.content[1].input == {"city": "Paris"}  # type: ignore[union-attr]
    assert message.stop_reason == "tool_use"
    assert raw.headers["x-gateway-route"].endswith("group=oa; deployment=oa/1")
    sent = openai_fake.requests[0]
    assert sent.path == "/v1/chat/completions"
    assert sent.json["model"] == "gpt-fake"
    assert sent.header("authorization") == "Bearer sk-oa"
    assert "x-anthropic-billing-header" not in str(sent.json["messages"])  # stripped for a prefix-caching backend
    assert sent.json["tools"][0]["function"]["name"] == "get_weather"


def test_streaming_with_reasoning_gives_sdk_valid_thinking(openai_fake: OpenAIFake) -> None:
    openai_fake.script(Behavior(content=[Thinking("pondering"), Text("Hello there")]))
    with running_gateway(_config(openai_fake)) as url:
        with client(url).messages.stream(
            model="claude-sonnet-5-5", thinking={"type": "enabled", "budget_tokens": 2048}, **MSG
        ) as stream:
            final = stream.get_final_message()
    kinds = [b.type for b in final.content]
    assert kinds == ["thinking", "text"], kinds  # reasoning_content became a thinking block
    assert final.content[0].thinking == "pondering"  # type: ignore[union-attr]
    assert final.content[-1].text == "Hello there"  # type: ignore[union-attr]
    for block in final.content:
        if block.type == "thinking":
            assert block.signature == ""  # litellm's null rewritten: the strict SDK accepts it


def test_upstream_429_is_reported_after_failover_is_exhausted(openai_fake: OpenAIFake) -> None:
    openai_fake.script(Behavior(status=429), Behavior(status=429), Behavior(status=429))
    with running_gateway(_config(openai_fake)) as url:
        import anthropic

        with pytest.raises(anthropic.APIStatusError) as info:
            client(url).messages.create(model="claude-sonnet-5-5", **MSG)
    assert info.value.status_code == 429  # the provider's own status, after exactly one attempt
    assert len(openai_fake.requests) == 1
