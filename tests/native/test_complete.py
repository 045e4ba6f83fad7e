"""Legacy ``POST /v1/complete`` through a real gateway to the Anthropic-wire fake, with the official SDK as client.

anthropic 2.17 (the installed release) has no ``client.completions`` resource any more, so the SDK's own request
machinery is used for the legacy path (``client.post`` with ``Stream`` for the SSE): the same HTTP client, headers,
SSE decoder and error mapping that ``completions.create`` used.
"""

from __future__ import annotations

from typing import Any

import anthropic
import httpx
import httpx2
import pytest

from bench.fakes import AnthropicFake, Behavior, Text, Thinking
from tests.native.conftest import KEY, client, running_gateway

PROMPT = "You are terse.\n\nHuman: Name a colour.\n\nAssistant: The colour is"


def _config(fake: AnthropicFake) -> dict[str, Any]:
    params = {"model": "anthropic/*", "api_base": fake.url, "api_key": "sk-up-main"}
    return {"model_list": [{"model_name": "main", "litellm_params": params}], "routing": {"default": "main"}}


def _body(**extra: Any) -> dict[str, Any]:
    return {"model": "claude-sonnet-4-5", "prompt": PROMPT, "max_tokens_to_sample": 32, **extra}


def test_completion_is_translated_both_ways(fake: AnthropicFake) -> None:
    fake.script(Behavior(content=[Thinking("hmm"), Text(" blue.")]))
    extra = {"stop_sequences": ["\n\nHuman:"], "temperature": 0.5, "top_k": 5, "metadata": {"user_id": "u-1"}}
    with running_gateway(_config(fake)) as url:
        raw = client(url).post("/v1/complete", cast_to=httpx2.Response, body=_body(**extra))
    answer = raw.json()
    assert answer["type"] == "completion"
    assert answer["completion"] == " blue."  # text blocks only, thinking left out
    assert answer["stop_reason"] == "stop_sequence"  # Messages' end_turn
    assert answer["id"].startswith("compl_") and answer["model"] == "claude-sonnet-4-5"
    assert raw.headers["x-gateway-route"].endswith("deployment=main/1")
    sent = fake.requests[0]
    assert sent.path == "/v1/messages"
    assert sent.json == {
        "model": "claude-sonnet-4-5",
        "max_tokens": 32,
        "system": "You are terse.",
        "messages": [
            {"role": "user", "content": "Name a colour."},
            {"role": "assistant", "content": "The colour is"},
        ],
        "stop_sequences": ["\n\nHuman:"],
        "temperature": 0.5,
        "top_k": 5,
        "metadata": {"user_id": "u-1"},
    }


def test_max_tokens_stop_reason(fake: AnthropicFake) -> None:
    fake.script(Behavior(content=[Text("red and")], stop_reason="max_tokens"))
    with running_gateway(_config(fake)) as url:
        answer: Any = client(url).post("/v1/complete", cast_to=object, body=_body())
    assert (answer["completion"], answer["stop_reason"]) == ("red and", "max_tokens")


def test_stream_is_completion_events(fake: AnthropicFake) -> None:
    fake.script(Behavior(content=[Text("green, then yellow")]))
    with running_gateway(_config(fake)) as url:
        stream = client(url).post(
            "/v1/complete", cast_to=object, body=_body(stream=True), stream=True, stream_cls=anthropic.Stream[object]
        )
        chunks: list[Any] = list(stream)
    assert fake.requests[0].json["stream"] is True
    assert all(c["type"] == "completion" and c["id"].startswith("compl_") for c in chunks)
    assert "".join(c["completion"] for c in chunks) == "green, then yellow"
    assert [c["stop_reason"] for c in chunks[:-1]] == [None] * (len(chunks) - 1)
    assert chunks[-1]["stop_reason"] == "stop_sequence" and chunks[-1]["completion"] == ""


def test_mid_stream_error_is_an_error_event(fake: AnthropicFake) -> None:
    fake.script(Behavior(content=[Text("partial answer")], error_after_events=4, error_type="overloaded_error"))
    with running_gateway(_config(fake)) as url:
        stream = client(url).post(
            "/v1/complete", cast_to=object, body=_body(stream=True), stream=True, stream_cls=anthropic.Stream[object]
        )
        seen: list[Any] = []
        with pytest.raises(anthropic.APIStatusError) as info:
            for chunk in stream:
                seen.append(chunk)
    assert info.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]
    assert seen and all(c["type"] == "completion" for c in seen)


def test_upstream_error_keeps_the_anthropic_envelope(fake: AnthropicFake) -> None:
    fake.script(Behavior(status=429, retry_after=9, error_message="slow down"))
    with running_gateway(_config(fake)) as url:
        with pytest.raises(anthropic.RateLimitError) as info:
            client(url).post("/v1/complete", cast_to=object, body=_body())
    assert info.value.body["error"]["message"] == "slow down"  # type: ignore[index]
    assert info.value.response.headers["retry-after"] == "9"


@pytest.mark.parametrize(
    ("prompt", "message"),
    [
        ("Name a colour.\n\nAssistant:", "must start with"),
        ("\n\nAssistant: hi\n\nHuman: Name a colour.\n\nAssistant:", "must start with"),
        ("\n\nHuman: Name a colour.", "must end with"),
        ("\n\nHuman:\n\nAssistant:", "must not be empty"),
    ],
)
def test_bad_prompts_are_400_without_an_upstream_call(fake: AnthropicFake, prompt: str, message: str) -> None:
    with running_gateway(_config(fake)) as url:
        r = httpx.post(f"{url}/v1/complete", json=_body(prompt=prompt), headers={"x-api-key": KEY})
    assert r.status_code == 400
    assert r.json()["error"]["type"] == "invalid_request_error" and message in r.json()["error"]["message"]
    assert fake.requests == []


def test_consecutive_human_turns_are_merged(fake: AnthropicFake) -> None:
    prompt = "\n\nHuman: one\n\nHuman: two\n\nAssistant:"
    with running_gateway(_config(fake)) as url:
        client(url).post("/v1/complete", cast_to=object, body=_body(prompt=prompt))
    assert fake.requests[0].json["messages"] == [{"role": "user", "content": "one\n\ntwo"}]
