"""Recording, the `/_fake/*` control endpoints, `RemoteFake`, the CLI process and the thread/loop runner."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bench.fakes import AnthropicFake, Behavior, OpenAIFake, RemoteFake, ServerBlock, Text, Thinking, ToolUse

ROOT = Path(__file__).resolve().parents[2]
BODY = {"model": "m", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def fake() -> Iterator[AnthropicFake]:
    with AnthropicFake() as f:
        yield f


def test_requests_are_recorded(fake: AnthropicFake) -> None:
    raw = b'{"model": "m", "max_tokens": 16, "messages": []}'
    before = time.monotonic()
    httpx.post(
        f"{fake.url}/v1/messages?beta=true&x=1",
        content=raw,
        headers={"X-Api-Key": "sk-1", "Anthropic-Beta": "a", "content-type": "application/json"},
    )
    httpx.get(f"{fake.url}/v1/models?limit=1000")
    httpx.post(f"{fake.url}/nowhere", content=b"not json")
    after = time.monotonic()
    first, second, third = fake.requests
    assert (first.method, first.path, first.query, first.query_string) == (
        "POST",
        "/v1/messages",
        {"beta": "true", "x": "1"},
        "beta=true&x=1",
    )
    assert first.body == raw and first.json == {"model": "m", "max_tokens": 16, "messages": []}
    assert first.headers["x-api-key"] == "sk-1" and first.header("Anthropic-Beta") == "a"
    assert all(name == name.lower() for name in first.headers)
    assert before <= first.received_monotonic <= second.received_monotonic <= after
    assert abs(first.received_at - time.time()) < 60
    assert (second.method, second.query, second.json) == ("GET", {"limit": "1000"}, None)
    assert third.path == "/nowhere" and third.json is None and third.body == b"not json"


def test_unknown_route_is_a_404_envelope(fake: AnthropicFake) -> None:
    response = httpx.post(f"{fake.url}/v1/complete", json={})
    assert response.status_code == 404 and response.json()["error"]["type"] == "not_found_error"
    assert httpx.head(f"{fake.url}/").status_code == 200  # Claude Code's startup probe


def test_behavior_json_round_trip() -> None:
    behavior = Behavior(
        status=429,
        retry_after=2.5,
        stall_after_events=3,
        content=[
            Thinking("t", signature="s"),
            Text("x", chunks=4),
            ToolUse("f", {"a": [1]}, id="toolu_1"),
            ServerBlock({"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}}),
        ],
        headers={"x-should-retry": "true"},
    )
    assert Behavior.from_json(behavior.to_json()) == behavior
    with pytest.raises(ValueError, match="unknown"):
        Behavior.from_json({"stauts": 500})


def test_control_endpoints(fake: AnthropicFake) -> None:
    script = {"behaviors": [{"status": 429}, {"content": [{"type": "text", "text": "scripted"}]}]}
    assert httpx.post(f"{fake.url}/_fake/script", json=script).json() == {"pending": 2}
    assert httpx.post(f"{fake.url}/_fake/script", json={"behaviors": [{"bogus": 1}]}).status_code == 400
    assert httpx.post(f"{fake.url}/v1/messages", json=BODY).status_code == 429
    assert httpx.post(f"{fake.url}/v1/messages", json=BODY).json()["content"][0]["text"] == "scripted"
    recorded = httpx.get(f"{fake.url}/_fake/requests").json()
    assert [r["path"] for r in recorded] == ["/v1/messages", "/v1/messages"]  # control calls are not recorded
    assert recorded[0]["json"] == BODY
    httpx.post(f"{fake.url}/_fake/script", json={"default": {"content": [{"type": "text", "text": "d"}]}})
    assert fake.default.content == (Text("d"),)
    assert httpx.post(f"{fake.url}/_fake/reset").json() == {"ok": True}
    assert fake.requests == [] and fake.default == Behavior()


def test_remote_fake_drives_another_fake(fake: AnthropicFake) -> None:
    with RemoteFake(fake.url) as remote:
        assert remote.script(Behavior(status=529), Behavior(content=[Text("two")])) == 2
        assert remote.pending == 2
        remote.default = Behavior(content=[Text("remote default")])
        assert remote.default.content == (Text("remote default"),)
        codes = [httpx.post(f"{fake.url}/v1/messages", json=BODY) for _ in range(3)]
        assert [c.status_code for c in codes] == [529, 200, 200]
        assert [c.json().get("content", [{}])[0].get("text") for c in codes[1:]] == ["two", "remote default"]
        (first, *_) = remote.requests
        assert first.json == BODY and first.body == fake.requests[0].body
        remote.reset()
        assert remote.requests == [] and remote.pending == 0


def test_cli_serves_in_a_separate_process() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.fakes", "openai", "--port", "0", "--latency-ms", "100", "--text", "cli hi"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        start = time.monotonic()
        data = httpx.post(f"{url}/v1/chat/completions", json={"model": "m", "messages": []}).json()
        assert time.monotonic() - start >= 0.1
        assert data["choices"][0]["message"]["content"] == "cli hi"
        with RemoteFake(url) as remote:
            assert [r.path for r in remote.requests] == ["/v1/chat/completions"]
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0


async def test_fake_loop_is_independent_of_the_callers_loop() -> None:
    with AnthropicFake() as anthropic_fake, OpenAIFake() as openai_fake:
        # a blocking call from inside a running event loop still gets its answer: the fake has its own loop
        assert httpx.post(f"{anthropic_fake.url}/v1/messages", json=BODY).status_code == 200  # noqa: ASYNC210
        async with httpx.AsyncClient() as client:
            response = await client.post(f"{openai_fake.url}/v1/chat/completions", json={"model": "m", "messages": []})
        assert response.status_code == 200


def test_start_twice_and_url_before_start() -> None:
    fake = AnthropicFake()
    with pytest.raises(RuntimeError):
        _ = fake.url
    fake.start()
    try:
        with pytest.raises(RuntimeError):
            fake.start()
    finally:
        fake.stop()
    fake.stop()  # idempotent
