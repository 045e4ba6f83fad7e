"""The official anthropic SDK (strict) → a real gateway → real fake upstreams: routing, hygiene, failover, streams.

Each fault knob of the fake maps to one documented client-visible behaviour; nothing is silently truncated.
"""

from __future__ import annotations

import time
from typing import Any

import anthropic
import httpx
import pytest

from bench.fakes import AnthropicFake, Behavior, Text, Thinking, ToolUse
from bench.fakes.sse import parse_sse
from tests.native.conftest import KEY, client, running_gateway

MSG: dict[str, Any] = {"max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}


def _config(primary: AnthropicFake, backup: AnthropicFake | None = None, **routing: Any) -> dict[str, Any]:
    models: list[dict[str, Any]] = [
        {
            "model_name": "main",
            "litellm_params": {"model": "anthropic/*", "api_base": primary.url, "api_key": "sk-up-main"},
        }
    ]
    settings: dict[str, Any] = {"cooldown_time": 60}
    if backup is not None:
        models.append(
            {
                "model_name": "backup",
                "litellm_params": {
                    "model": "deepseek/deepseek-v4-pro",
                    "api_base": f"{backup.url}/anthropic",
                    "api_key": "sk-up-backup",
                },
            }
        )
        settings["fallbacks"] = [{"main": ["backup"]}]
    return {"model_list": models, "router_settings": settings, "routing": {"default": "main", **routing}}


def test_sdk_non_streaming_with_thinking_and_tool_use(fake: AnthropicFake) -> None:
    fake.script(
        Behavior(content=[Thinking("let me think"), Text("Using a tool."), ToolUse("get_weather", {"city": "Paris"})])
    )
    with running_gateway(_config(fake)) as url:
        raw = client(url).messages.with_raw_response.create(model="claude-opus-5-5", **MSG)
        message = raw.parse()
    assert [b.type for b in message.content] == ["thinking", "text", "tool_use"]
    assert message.content[0].signature  # type: ignore[union-attr]
    assert message.stop_reason == "tool_use"
    assert raw.headers["x-gateway-route"] == "tier=opus; effort=-; group=main; deployment=main/1"
    assert raw.headers["request-id"].startswith("req_")
    sent = fake.requests[0]
    assert sent.header("x-api-key") == "sk-up-main"  # the deployment's key, never the gateway key
    assert KEY not in str(sent.headers)


def test_sdk_stream_helper_relays_events_in_order(fake: AnthropicFake) -> None:
    fake.script(Behavior(content=[Thinking("hmm"), Text("Hello there"), ToolUse("Bash", {"command": "ls"})]))
    with running_gateway(_config(fake)) as url:
        with client(url).messages.stream(model="claude-sonnet-5-5", **MSG) as stream:
            types = [event.type for event in stream]
            final = stream.get_final_message()
    assert types[0] == "message_start" and types[-1] == "message_stop"
    assert [b.type for b in final.content] == ["thinking", "text", "tool_use"]
    assert final.content[2].input == {"command": "ls"}  # type: ignore[union-attr]


def test_request_bytes_are_forwarded_unchanged_to_anthropic(fake: AnthropicFake) -> None:
    body = b'{"model": "claude-opus-5-5",   "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}'
    with running_gateway(_config(fake)) as url:
        r = httpx.post(
            f"{url}/v1/messages?beta=true",
            content=body,
            headers={
                "x-api-key": KEY,
                "content-type": "application/json",
                "anthropic-beta": "claude-code-20250219,x-y",
            },
        )
    assert r.status_code == 200
    assert fake.requests[0].body == body
    assert fake.requests[0].header("anthropic-beta") == "claude-code-20250219,x-y"


def test_429_fails_over_to_the_fallback_group_before_the_first_byte(fake: AnthropicFake, fake2: AnthropicFake) -> None:
    fake.script(Behavior(status=429, retry_after=30))
    with running_gateway(_config(fake, fake2)) as url:
        raw = client(url).messages.with_raw_response.create(model="claude-opus-5-5", **MSG)
        second = client(url).messages.create(model="claude-opus-5-5", **MSG)
    assert raw.parse().content[0].text == "Hello from backup-fake"  # type: ignore[union-attr]
    assert raw.headers["x-gateway-route"].endswith("deployment=backup/1")
    assert second.content[0].text == "Hello from backup-fake"  # type: ignore[union-attr]
    assert len(fake.requests) == 1  # the 429'd deployment is cooling down (retry-after 30 s)
    assert fake2.requests[0].json["model"] == "deepseek-v4-pro"


@pytest.mark.parametrize("status", [500, 503, 529])
def test_5xx_and_529_fail_over(fake: AnthropicFake, fake2: AnthropicFake, status: int) -> None:
    fake.script(Behavior(status=status))
    with running_gateway(_config(fake, fake2)) as url:
        message = client(url).messages.create(model="claude-opus-5-5", **MSG)
    assert message.content[0].text == "Hello from backup-fake"  # type: ignore[union-attr]


def test_connection_reset_and_timeout_fail_over(fake: AnthropicFake, fake2: AnthropicFake) -> None:
    config = _config(fake, fake2)
    config["model_list"][0]["litellm_params"]["timeout"] = 0.5
    fake.script(Behavior(status=0), Behavior(latency_s=2.0))
    with running_gateway(config) as url:
        first = client(url).messages.create(model="claude-opus-5-5", **MSG)
        config_cooldown_free = client(url).messages.create(model="claude-opus-5-5", **MSG)
    assert first.content[0].text == "Hello from backup-fake"  # type: ignore[union-attr]
    assert config_cooldown_free.content[0].text == "Hello from backup-fake"  # type: ignore[union-attr]


def test_all_rate_limited_gives_the_last_429_with_retry_after(fake: AnthropicFake) -> None:
    fake.script(Behavior(status=429, retry_after=7, error_message="slow down, please"))
    with running_gateway(_config(fake)) as url:
        with pytest.raises(anthropic.RateLimitError) as info:
            client(url).messages.create(model="claude-opus-5-5", **MSG)
    assert info.value.response.headers["retry-after"] == "7"
    assert info.value.body["error"]["message"] == "slow down, please"  # type: ignore[index]
    assert info.value.response.headers["x-gateway-route"].endswith("deployment=main/1")


def test_all_failing_gives_the_last_upstream_answer(fake: AnthropicFake, fake2: AnthropicFake) -> None:
    fake.script(Behavior(status=500))
    fake2.script(Behavior(status=529, error_message="backup is overloaded"))
    with running_gateway(_config(fake, fake2)) as url:
        with pytest.raises(anthropic.APIStatusError) as info:
            client(url).messages.create(model="claude-opus-5-5", **MSG)
    assert info.value.status_code == 529
    assert info.value.type == "overloaded_error"
    assert info.value.body["error"]["message"] == "backup is overloaded"  # type: ignore[index]
    assert info.value.response.headers["x-gateway-route"].endswith("deployment=backup/1")
    assert (len(fake.requests), len(fake2.requests)) == (1, 1)


def test_client_errors_are_returned_as_they_are(fake: AnthropicFake, fake2: AnthropicFake) -> None:
    fake.script(Behavior(status=400, error_message="messages.0: bad thing"))
    with running_gateway(_config(fake, fake2)) as url:
        with pytest.raises(anthropic.BadRequestError, match=r"messages\.0: bad thing"):
            client(url).messages.create(model="claude-opus-5-5", **MSG)
    assert fake2.requests == []


def _stream_raw(url: str) -> tuple[list[Any], list[float]]:
    frames, times = [], []
    start = time.monotonic()
    with httpx.stream(
        "POST",
        f"{url}/v1/messages",
        json={"model": "claude-opus-5-5", "stream": True, **MSG},
        headers={"x-api-key": KEY},
        timeout=30,
    ) as r:
        assert r.status_code == 200
        body = b""
        for chunk in r.iter_raw():
            body += chunk
            times.append(time.monotonic() - start)
    frames = parse_sse(body)
    return frames, times


def test_mid_stream_reset_becomes_an_error_event(fake: AnthropicFake) -> None:
    fake.script(Behavior(reset_after_events=3))
    with running_gateway(_config(fake)) as url:
        frames, _ = _stream_raw(url)
    assert frames[-1].event == "error"
    assert "mid-stream" in frames[-1].json()["error"]["message"]
    assert "message_stop" not in [f.event for f in frames]


def test_malformed_upstream_event_becomes_an_error_event(fake: AnthropicFake) -> None:
    fake.script(Behavior(malformed_after_events=2))
    with running_gateway(_config(fake)) as url:
        frames, _ = _stream_raw(url)
    assert [f.event for f in frames][:2] == ["message_start", "ping"]
    assert frames[-1].event == "error" and "malformed" in frames[-1].json()["error"]["message"]


def test_upstream_error_event_is_relayed_and_the_sdk_raises(fake: AnthropicFake) -> None:
    fake.script(Behavior(error_after_events=2, error_type="overloaded_error"))
    with running_gateway(_config(fake)) as url:
        with pytest.raises(anthropic.APIStatusError, match="overloaded"):
            with client(url).messages.stream(model="claude-opus-5-5", **MSG) as stream:
                stream.get_final_message()


def test_keepalive_comments_during_upstream_silence_then_stall_error(fake: AnthropicFake) -> None:
    fake.script(Behavior(stall_after_events=2))
    config = _config(fake, keepalive_seconds=0.2, stream_idle_timeout_seconds=1.0)
    with running_gateway(config) as url:
        frames, _ = _stream_raw(url)
    comments = [f for f in frames if f.event is None and f.raw.startswith(b":")]
    assert len(comments) >= 3
    assert frames[-1].event == "error" and "sent nothing" in frames[-1].json()["error"]["message"]


def test_local_mode_forwards_the_clients_own_credential_to_anthropic_only(
    fake: AnthropicFake, fake2: AnthropicFake
) -> None:
    config = {
        "model_list": [
            {"model_name": "main", "litellm_params": {"model": "anthropic/*", "api_base": fake.url}},
            {
                "model_name": "ds",
                "litellm_params": {"model": "deepseek/deepseek-v4-pro", "api_base": f"{fake2.url}/anthropic"},
            },
        ],
        "routing": {"default": "main", "rules": [{"tier": "haiku", "group": "ds"}]},
        "gateway": {"api_keys": []},
    }
    with running_gateway(config, keyed=False) as url:
        own = anthropic.Anthropic(base_url=url, api_key="sk-ant-users-own-key", max_retries=0)
        own.messages.create(model="claude-opus-5-5", **MSG)
        own.messages.create(model="claude-haiku-5-5", **MSG)
    # SDK 2.x sends its api_key as a bearer token; the route is Anthropic with no key configured: forwarded as sent
    assert fake.requests[0].header("authorization") == "Bearer sk-ant-users-own-key"
    assert fake2.requests[0].header("x-api-key") is None  # never to another host
    assert fake2.requests[0].header("authorization") is None
    assert "sk-ant-users-own-key" not in str(fake2.requests[0].headers)


def test_claude_code_system_turns_become_user_turns_off_anthropic(fake2: AnthropicFake) -> None:
    config = {
        "model_list": [
            {
                "model_name": "ds",
                "litellm_params": {
                    "model": "deepseek/deepseek-v4-flash",
                    "api_base": f"{fake2.url}/anthropic",
                    "api_key": "k",
                },
            },
        ],
        "routing": {"default": "ds"},
    }
    turns = [
        {"role": "user", "content": "hi"},
        {"role": "system", "content": [{"type": "text", "text": "reminder"}], "output_config": {"effort": "medium"}},
    ]
    with running_gateway(config) as url:
        r = httpx.post(
            f"{url}/v1/messages",
            headers={"x-api-key": KEY},
            json={"model": "claude-sonnet-5-5", "max_tokens": 8, "messages": turns},
        )
    assert r.status_code == 200, r.text
    sent = fake2.requests[0].json["messages"]
    assert [m["role"] for m in sent] == ["user", "user"]
    assert "output_config" not in sent[1]


def test_a_session_moving_between_backends_never_sends_anthropic_a_foreign_signature(
    fake: AnthropicFake, fake2: AnthropicFake
) -> None:
    config = {
        "model_list": [
            {"model_name": "claude", "litellm_params": {"model": "anthropic/*", "api_base": fake.url, "api_key": "k"}},
            {
                "model_name": "ds",
                "litellm_params": {
                    "model": "deepseek/deepseek-v4-pro",
                    "api_base": f"{fake2.url}/anthropic",
                    "api_key": "k",
                },
            },
        ],
        "routing": {"default": "claude", "rules": [{"tier": "haiku", "group": "ds"}]},
    }
    fake2.script(
        Behavior(content=[Thinking("deepseek reasons", signature="sig-from-deepseek"), Text("answer one")]),
        Behavior(content=[Text("answer three")]),
    )
    with running_gateway(config) as url:
        sdk = client(url)
        with sdk.messages.stream(model="claude-haiku-5-5", **MSG) as stream:  # turn 1: DeepSeek
            first = stream.get_final_message()
        thinking = first.content[0]
        assert thinking.type == "thinking" and thinking.signature == "gw-foreign:sig-from-deepseek"
        history = [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
            {"role": "user", "content": "and now?"},
        ]
        sdk.messages.create(model="claude-opus-5-5", max_tokens=16, messages=history)  # turn 2: Anthropic
        sdk.messages.create(model="claude-haiku-5-5", max_tokens=16, messages=history)  # turn 3: DeepSeek again
    to_anthropic = fake.requests[0].json["messages"][1]["content"]
    assert [b["type"] for b in to_anthropic] == ["text"]  # the foreign thinking block was dropped, not forged
    back_to_deepseek = fake2.requests[1].json["messages"][1]["content"]
    assert back_to_deepseek[0] == {"type": "thinking", "thinking": "deepseek reasons", "signature": "sig-from-deepseek"}
