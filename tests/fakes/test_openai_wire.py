"""The OpenAI chat-completions fake: raw httpx on the wire, and the `openai` SDK (litellm depends on it), strict."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from bench.fakes import Behavior, Block, OpenAIFake, Text, Thinking, ToolUse
from bench.fakes.openai_wire import MALFORMED_FRAME
from bench.fakes.sse import iter_sse, parse_sse

MESSAGES: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Weather in Paris?"}]
BODY: dict[str, Any] = {"model": "deepseek-chat", "messages": MESSAGES}
CONTENT: list[Block] = [
    Thinking("Need the tool.", chunks=3),
    Text("Let me check."),
    ToolUse("get_weather", {"city": "Paris"}),
]


@pytest.fixture
def fake() -> Iterator[OpenAIFake]:
    with OpenAIFake() as f:
        yield f


def sdk(fake: OpenAIFake) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{fake.url}/v1", api_key="k", max_retries=0, _strict_response_validation=True)


def test_json_completion_shape(fake: OpenAIFake) -> None:
    fake.script(Behavior(content=CONTENT))
    data = httpx.post(f"{fake.url}/v1/chat/completions", json=BODY).json()
    assert data["object"] == "chat.completion" and data["id"].startswith("chatcmpl-")
    assert data["model"] == "deepseek-chat"
    (choice,) = data["choices"]
    assert choice["finish_reason"] == "tool_calls"
    message = choice["message"]
    assert message["content"] == "Let me check." and message["reasoning_content"] == "Need the tool."
    (call,) = message["tool_calls"]
    assert call["type"] == "function" and call["id"].startswith("call_")
    assert call["function"] == {"name": "get_weather", "arguments": '{"city":"Paris"}'}
    usage = data["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert usage["prompt_tokens"] == len(fake.requests[0].body) // 4


def test_default_reply_and_no_v1_prefix(fake: OpenAIFake) -> None:
    data = httpx.post(f"{fake.url}/chat/completions", json=BODY).json()
    assert data["choices"][0]["message"]["content"] == "Hello from openai-fake"
    assert data["choices"][0]["finish_reason"] == "stop" and "tool_calls" not in data["choices"][0]["message"]


def test_sse_chunks_with_usage_and_done(fake: OpenAIFake) -> None:
    fake.script(Behavior(content=CONTENT))
    body = {**BODY, "stream": True, "stream_options": {"include_usage": True}}
    response = httpx.post(f"{fake.url}/v1/chat/completions", json=body)
    assert response.headers["content-type"].startswith("text/event-stream")
    frames = parse_sse(response.content)
    assert all(f.raw.startswith(b"data: ") and f.event is None for f in frames)
    assert frames[-1].data == "[DONE]"
    chunks = [f.json() for f in frames[:-1]]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"} and len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert "".join(d.get("reasoning_content", "") for d in deltas) == "Need the tool."
    assert sum("reasoning_content" in d for d in deltas) == 3
    assert "".join(d.get("content") or "" for d in deltas) == "Let me check."
    calls = [call for d in deltas for call in d.get("tool_calls", [])]
    assert calls[0]["function"]["name"] == "get_weather" and calls[0]["id"].startswith("call_")
    assert len(calls) == 3 and "".join(c["function"]["arguments"] for c in calls) == '{"city":"Paris"}'
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] > 0
    assert all(c["usage"] is None for c in chunks[:-1])


def test_sse_without_include_usage_has_no_usage_chunk(fake: OpenAIFake) -> None:
    response = httpx.post(f"{fake.url}/v1/chat/completions", json={**BODY, "stream": True})
    chunks = [f.json() for f in parse_sse(response.content)[:-1]]
    assert all("usage" not in c for c in chunks) and chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_openai_sdk_strict_non_stream_and_stream(fake: OpenAIFake) -> None:
    client = sdk(fake)
    fake.script(Behavior(content=CONTENT), Behavior(content=CONTENT))
    completion = client.chat.completions.create(model="m", messages=MESSAGES)
    message = completion.choices[0].message
    assert message.content == "Let me check." and message.tool_calls is not None
    assert message.tool_calls[0].function.arguments == '{"city":"Paris"}'  # type: ignore[union-attr]
    stream = client.chat.completions.create(
        model="m",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    arguments = "".join(
        (call.function.arguments or "") if call.function else ""
        for c in chunks
        if c.choices
        for call in (c.choices[0].delta.tool_calls or [])
    )
    assert arguments == '{"city":"Paris"}'
    assert chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens > 0
    assert [m.id for m in client.models.list()] == ["gpt-fake", "deepseek-chat", "mimo-v2-flash"]


@pytest.mark.parametrize(
    ("behavior", "exc", "error_type"),
    [
        (Behavior(status=429, retry_after=2), openai.RateLimitError, "rate_limit_error"),
        (Behavior(status=529), openai.InternalServerError, "overloaded_error"),
        (Behavior(status=502), openai.InternalServerError, "api_error"),
    ],
)
def test_errors_in_openai_envelope(
    fake: OpenAIFake, behavior: Behavior, exc: type[openai.APIStatusError], error_type: str
) -> None:
    fake.script(behavior)
    with pytest.raises(exc) as caught:
        sdk(fake).chat.completions.create(model="m", messages=MESSAGES)
    body = caught.value.body
    assert isinstance(body, dict) and body["type"] == error_type and body["message"]
    raw = caught.value.response.json()
    assert set(raw) == {"error"} and set(raw["error"]) == {"message", "type", "param", "code"}
    if behavior.status == 429:
        assert caught.value.response.headers["retry-after"] == "2"


def test_validation(fake: OpenAIFake) -> None:
    response = httpx.post(f"{fake.url}/v1/chat/completions", json={"messages": MESSAGES})
    assert response.status_code == 400 and response.json()["error"]["type"] == "invalid_request_error"
    response = httpx.post(f"{fake.url}/v1/chat/completions", json={"model": "m"})
    assert response.status_code == 400 and "messages" in response.json()["error"]["message"]


def test_stream_knobs(fake: OpenAIFake) -> None:
    fake.script(
        Behavior(reset_after_events=2),
        Behavior(malformed_after_events=1),
        Behavior(error_after_events=1),
    )
    url = f"{fake.url}/v1/chat/completions"
    stream_body = {**BODY, "stream": True}
    frames = []
    with httpx.stream("POST", url, json=stream_body) as resp, pytest.raises(httpx.TransportError):
        for frame in iter_sse(resp):
            frames.append(frame)
    assert len(frames) == 2
    malformed = parse_sse(httpx.post(url, json=stream_body).content)
    assert malformed[1].raw + b"\n\n" == MALFORMED_FRAME and malformed[-1].data == "[DONE]"
    with pytest.raises(openai.APIError, match="overloaded"):
        list(sdk(fake).chat.completions.create(model="m", messages=MESSAGES, stream=True))
