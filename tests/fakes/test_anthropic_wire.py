"""The Anthropic fake against the official SDK in strict mode, and its exact SSE sequence on the wire."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import pytest
from anthropic.types import MessageParam

from bench.fakes import DEFAULT_SIGNATURE, AnthropicFake, Behavior, Block, ServerBlock, Text, Thinking, ToolUse
from bench.fakes.sse import parse_sse

USER: list[MessageParam] = [{"role": "user", "content": "What is the weather in Paris?"}]
BODY: dict[str, Any] = {"model": "claude-x", "max_tokens": 64, "messages": USER}
CONTENT: list[Block] = [
    Thinking("Let me look it up.", chunks=3),
    Text("Checking the weather."),
    ToolUse("get_weather", {"city": "Paris"}),
]


@pytest.fixture
def fake() -> Iterator[AnthropicFake]:
    with AnthropicFake() as f:
        yield f


def sdk(base_url: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=base_url, api_key="sk-test", max_retries=0, _strict_response_validation=True)


def test_default_reply_is_a_faithful_message(fake: AnthropicFake) -> None:
    message = sdk(fake.url).messages.create(model="claude-x", max_tokens=64, messages=USER)
    assert message.id.startswith("msg_")
    assert (message.type, message.role, message.model) == ("message", "assistant", "claude-x")
    assert [b.type for b in message.content] == ["text"]
    first = message.content[0]
    assert first.type == "text" and first.text == "Hello from anthropic-fake"
    assert (message.stop_reason, message.stop_sequence) == ("end_turn", None)
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0
    assert message.usage.cache_read_input_tokens == 0 and message.usage.cache_creation_input_tokens == 0
    (seen,) = fake.requests
    assert seen.path == "/v1/messages" and seen.json["model"] == "claude-x"
    assert seen.header("authorization") == "Bearer sk-test" and seen.header("anthropic-version")


def test_ids_are_unique_per_request(fake: AnthropicFake) -> None:
    client = sdk(fake.url)
    ids = {client.messages.create(model="m", max_tokens=8, messages=USER).id for _ in range(3)}
    assert len(ids) == 3


def test_thinking_and_tool_use_non_streaming(fake: AnthropicFake) -> None:
    fake.script(Behavior(content=CONTENT, input_tokens=100, cache_read_input_tokens=7))
    message = sdk(fake.url).messages.create(**BODY)
    thinking, text, tool = message.content
    assert thinking.type == "thinking" and thinking.thinking == "Let me look it up."
    assert thinking.signature == DEFAULT_SIGNATURE
    assert text.type == "text" and text.text == "Checking the weather."
    assert tool.type == "tool_use" and tool.name == "get_weather" and tool.input == {"city": "Paris"}
    assert tool.id.startswith("toolu_")
    assert message.stop_reason == "tool_use"
    assert (message.usage.input_tokens, message.usage.cache_read_input_tokens) == (100, 7)


def test_stream_helper_with_thinking_and_tool_use(fake: AnthropicFake) -> None:
    fake.script(Behavior(content=CONTENT))
    with sdk(fake.url).messages.stream(**BODY) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_message()
    assert kinds.count("thinking") == 3 and "signature" in kinds and "text" in kinds and "input_json" in kinds
    assert [b.type for b in final.content] == ["thinking", "text", "tool_use"]
    thinking, text, tool = final.content
    assert thinking.type == "thinking" and thinking.signature == DEFAULT_SIGNATURE
    assert thinking.thinking == "Let me look it up."
    assert text.type == "text" and text.text == "Checking the weather."
    assert tool.type == "tool_use" and tool.input == {"city": "Paris"}
    assert final.stop_reason == "tool_use" and final.usage.output_tokens > 1


def test_stream_event_sequence_on_the_wire(fake: AnthropicFake) -> None:
    fake.script(Behavior(content=CONTENT))
    response = httpx.post(f"{fake.url}/v1/messages?beta=true", json={**BODY, "stream": True})
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.text.endswith("\n\n") and "\r" not in response.text
    frames = parse_sse(response.content)
    for frame in frames:
        assert frame.raw.startswith(b"event: ") and frame.raw.count(b"\n") == 1
        assert frame.json()["type"] == frame.event
    block = ["content_block_start", *["content_block_delta"] * 2, "content_block_stop"]
    assert [f.event for f in frames] == [
        "message_start",
        "ping",
        *["content_block_start", *["content_block_delta"] * 4, "content_block_stop"],  # 3 thinking + signature
        "ping",
        *block,
        "ping",
        *block,
        "message_delta",
        "message_stop",
    ]
    start = frames[0].json()["message"]
    assert start["content"] == [] and start["stop_reason"] is None and start["model"] == "claude-x"
    delta_types = [f.json()["delta"]["type"] for f in frames if f.event == "content_block_delta"]
    assert delta_types == ["thinking_delta"] * 3 + ["signature_delta"] + ["text_delta"] * 2 + ["input_json_delta"] * 2
    partial = "".join(f.json()["delta"].get("partial_json", "") for f in frames if f.event == "content_block_delta")
    assert partial == '{"city":"Paris"}'
    message_delta = frames[-2].json()
    assert message_delta["delta"] == {"stop_reason": "tool_use", "stop_sequence": None}
    assert message_delta["usage"]["output_tokens"] > 0
    assert fake.requests[0].query == {"beta": "true"}


SEARCH: list[Block] = [
    ServerBlock({"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {"query": "paris"}}),
    ServerBlock(
        {
            "type": "web_search_tool_result",
            "tool_use_id": "srvtoolu_1",
            "content": [
                {"type": "web_search_result", "url": "https://p.example/", "title": "P", "encrypted_content": "e"}
            ],
        }
    ),
    Text("Found it."),
]


def test_server_blocks_are_sent_as_given(fake: AnthropicFake) -> None:
    fake.script(Behavior(content=SEARCH), Behavior(content=SEARCH))
    message = sdk(fake.url).messages.create(**BODY)
    with sdk(fake.url).messages.stream(**BODY) as stream:
        streamed = stream.get_final_message()
    for got in (message, streamed):
        use, found, text = got.content
        assert use.type == "server_tool_use" and use.input == {"query": "paris"}
        assert found.type == "web_search_tool_result" and found.tool_use_id == "srvtoolu_1"
        assert isinstance(found.content, list) and found.content[0].url == "https://p.example/"
        assert text.type == "text" and text.text == "Found it."
        assert got.stop_reason == "end_turn"


def test_anthropic_prefix_deepseek_style(fake: AnthropicFake) -> None:
    client = sdk(f"{fake.url}/anthropic")
    assert client.messages.create(**BODY).model == "claude-x"
    with client.messages.stream(**BODY) as stream:
        assert stream.get_final_text() == "Hello from anthropic-fake"
    assert client.messages.count_tokens(model="claude-x", messages=USER).input_tokens > 0
    assert [m.id for m in client.models.list()] == list(fake.models)
    assert {r.path for r in fake.requests} == {
        "/anthropic/v1/messages",
        "/anthropic/v1/messages/count_tokens",
        "/anthropic/v1/models",
    }


def test_models_and_count_tokens(fake: AnthropicFake) -> None:
    client = sdk(fake.url)
    page = client.models.list()
    assert [m.id for m in page.data] == ["claude-sonnet-4-5", "claude-opus-4-1", "claude-haiku-4-5"]
    assert page.has_more is False and page.first_id == "claude-sonnet-4-5"
    assert client.models.retrieve("claude-opus-4-1").display_name == "claude-opus-4-1"
    with pytest.raises(anthropic.NotFoundError):
        client.models.retrieve("nope")
    count = client.messages.count_tokens(model="claude-x", messages=USER)
    assert count.input_tokens == len(fake.requests[-1].body) // 4


@pytest.mark.parametrize("missing", ["model", "max_tokens", "messages"])
def test_validation_rejects_missing_fields(fake: AnthropicFake, missing: str) -> None:
    fake.script(Behavior(content=[Text("must not be consumed")]))
    body = {k: v for k, v in BODY.items() if k != missing}
    response = httpx.post(f"{fake.url}/v1/messages", json=body)
    assert response.status_code == 400
    error = response.json()
    assert error["type"] == "error" and error["error"]["type"] == "invalid_request_error"
    assert missing in error["error"]["message"]
    assert fake.pending == 1  # a rejected request does not consume the script


def test_validation_off_accepts_anything() -> None:
    with AnthropicFake(validate=False) as fake:
        response = httpx.post(f"{fake.url}/v1/messages", json={"model": "m"})
    assert response.status_code == 200 and response.json()["model"] == "m"


@pytest.mark.parametrize(
    ("behavior", "exc", "error_type"),
    [
        (Behavior(status=429, retry_after=3), anthropic.RateLimitError, "rate_limit_error"),
        (Behavior(status=529), anthropic.OverloadedError, "overloaded_error"),
        (Behavior(status=500), anthropic.InternalServerError, "api_error"),
        (Behavior(status=503), anthropic.InternalServerError, "api_error"),
        (Behavior(status=400, error_type="billing_error"), anthropic.BadRequestError, "billing_error"),
    ],
)
def test_error_statuses_map_to_sdk_errors(
    fake: AnthropicFake, behavior: Behavior, exc: type[anthropic.APIStatusError], error_type: str
) -> None:
    fake.script(behavior)
    with pytest.raises(exc) as caught:
        sdk(fake.url).messages.create(**BODY)
    assert caught.value.status_code == behavior.status
    body = caught.value.body
    assert isinstance(body, dict) and set(body) == {"type", "error"} and body["type"] == "error"
    assert body["error"]["type"] == error_type and body["error"]["message"]
    if behavior.status == 429:
        assert caught.value.response.headers["retry-after"] == "3"


def test_mid_stream_error_event_raises_in_the_sdk(fake: AnthropicFake) -> None:
    fake.script(Behavior(error_after_events=2))
    with pytest.raises(anthropic.APIStatusError) as caught, sdk(fake.url).messages.stream(**BODY) as stream:
        for _ in stream:
            pass
    assert caught.value.body == {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}


def test_malformed_frame_breaks_the_sdk_stream(fake: AnthropicFake) -> None:
    fake.script(Behavior(malformed_after_events=2))
    with pytest.raises(ValueError), sdk(fake.url).messages.stream(**BODY) as stream:
        for _ in stream:
            pass


async def test_async_context_manager_with_async_sdk() -> None:
    async with AnthropicFake(name="async-fake") as fake:
        client = anthropic.AsyncAnthropic(
            base_url=fake.url, api_key="k", max_retries=0, _strict_response_validation=True
        )
        fake.script(Behavior(content=CONTENT))
        async with client.messages.stream(**BODY) as stream:
            final = await stream.get_final_message()
        assert [b.type for b in final.content] == ["thinking", "text", "tool_use"]
        message = await client.messages.create(**BODY)
        assert message.content[0].text == "Hello from async-fake"
        await client.close()
