"""Each `Behavior` knob, observed the way a client observes it: raw httpx against a real socket."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from bench.fakes import AnthropicFake, Behavior, Script, Text
from bench.fakes.anthropic_wire import MALFORMED_BODY, MALFORMED_FRAME
from bench.fakes.sse import SSEFrame, iter_sse, parse_sse

BODY: dict[str, Any] = {"model": "m", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
STREAM = {**BODY, "stream": True}
DEFAULT_EVENTS = 8  # message_start, ping, block start, 2 text deltas, block stop, message_delta, message_stop


@pytest.fixture
def fake() -> Iterator[AnthropicFake]:
    with AnthropicFake() as f:
        yield f


def read_stream(url: str, timeout: httpx.Timeout | float = 5.0) -> tuple[list[SSEFrame], BaseException | None]:
    """All frames a client receives, and the transport error that ended the stream (None if it ended cleanly)."""
    frames: list[SSEFrame] = []
    with httpx.Client(timeout=timeout) as client, client.stream("POST", f"{url}/v1/messages", json=STREAM) as resp:
        assert resp.status_code == 200
        try:
            for frame in iter_sse(resp):
                frames.append(frame)
        except httpx.TransportError as exc:
            return frames, exc
    return frames, None


def test_default_stream_event_count(fake: AnthropicFake) -> None:
    frames, error = read_stream(fake.url)
    assert error is None and len(frames) == DEFAULT_EVENTS


def test_latency_delays_the_first_byte(fake: AnthropicFake) -> None:
    fake.script(Behavior(latency_s=0.3), Behavior(status=429, latency_s=0.2))
    start = time.monotonic()
    with httpx.stream("POST", f"{fake.url}/v1/messages", json=STREAM) as resp:
        headers_at = time.monotonic()
        resp.read()
    assert 0.3 <= headers_at - start < 1.5
    start = time.monotonic()
    assert httpx.post(f"{fake.url}/v1/messages", json=BODY).status_code == 429
    assert time.monotonic() - start >= 0.2


def test_event_delay_spaces_events(fake: AnthropicFake) -> None:
    fake.script(Behavior(event_delay_s=0.05))
    frames, error = read_stream(fake.url)
    assert error is None and len(frames) == DEFAULT_EVENTS
    gaps = [b.arrived - a.arrived for a, b in itertools.pairwise(frames)]
    assert min(gaps) >= 0.04
    assert frames[-1].arrived - frames[0].arrived >= 0.05 * (DEFAULT_EVENTS - 1) - 0.01


def test_stall_sends_nothing_but_keeps_the_connection(fake: AnthropicFake) -> None:
    fake.script(Behavior(stall_after_events=3))
    start = time.monotonic()
    frames, error = read_stream(fake.url, timeout=httpx.Timeout(5.0, read=0.6))
    assert isinstance(error, httpx.ReadTimeout)  # neither a reset nor a clean end: silence
    assert [f.event for f in frames] == ["message_start", "ping", "content_block_start"]
    assert time.monotonic() - frames[-1].arrived >= 0.55
    assert time.monotonic() - start < 3


def test_stop_is_quick_with_a_stalled_client() -> None:
    fake = AnthropicFake(Behavior(stall_after_events=1)).start()
    client = httpx.Client(timeout=5)
    resp = client.send(client.build_request("POST", f"{fake.url}/v1/messages", json=STREAM), stream=True)
    assert resp.status_code == 200
    start = time.monotonic()
    fake.stop()
    assert time.monotonic() - start < 2
    with pytest.raises(httpx.TransportError):
        resp.read()
    client.close()


def test_reset_aborts_the_connection_mid_stream(fake: AnthropicFake) -> None:
    fake.script(Behavior(reset_after_events=4))
    frames, error = read_stream(fake.url)
    assert isinstance(error, httpx.ReadError | httpx.RemoteProtocolError)
    assert "reset" in str(error).lower() or isinstance(error, httpx.RemoteProtocolError)
    assert len(frames) == 4
    assert httpx.post(f"{fake.url}/v1/messages", json=BODY).status_code == 200  # the fake keeps serving


def test_reset_after_the_last_event_still_breaks_the_response(fake: AnthropicFake) -> None:
    fake.script(Behavior(reset_after_events=DEFAULT_EVENTS))
    frames, error = read_stream(fake.url)
    assert len(frames) == DEFAULT_EVENTS and isinstance(error, httpx.TransportError)


def test_status_zero_resets_before_any_response(fake: AnthropicFake) -> None:
    fake.script(Behavior(status=0))
    with pytest.raises(httpx.TransportError):
        httpx.post(f"{fake.url}/v1/messages", json=BODY)
    assert len(fake.requests) == 1


def test_malformed_frame_is_injected_then_the_stream_continues(fake: AnthropicFake) -> None:
    fake.script(Behavior(malformed_after_events=2))
    body = httpx.post(f"{fake.url}/v1/messages", json=STREAM).content
    frames = parse_sse(body)
    assert len(frames) == DEFAULT_EVENTS + 1
    assert frames[2].raw + b"\n\n" == MALFORMED_FRAME
    with pytest.raises(ValueError):
        frames[2].json()
    assert [f.event for f in frames[:2]] == ["message_start", "ping"] and frames[-1].event == "message_stop"


def test_mid_stream_error_event_ends_the_stream(fake: AnthropicFake) -> None:
    fake.script(Behavior(error_after_events=1, error_type="api_error", error_message="boom"))
    frames, error = read_stream(fake.url)
    assert error is None
    assert [f.event for f in frames] == ["message_start", "error"]
    assert frames[1].json() == {"type": "error", "error": {"type": "api_error", "message": "boom"}}


def test_non_stream_cuts(fake: AnthropicFake) -> None:
    fake.script(
        Behavior(reset_after_events=0),
        Behavior(reset_after_events=1),
        Behavior(stall_after_events=0),
        Behavior(stall_after_events=1),
        Behavior(malformed_after_events=0),
    )
    url = f"{fake.url}/v1/messages"
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):  # no response at all: the connection dies
        httpx.post(url, json=BODY)
    with httpx.stream("POST", url, json=BODY) as resp:  # headers and half a body, then a reset
        assert resp.status_code == 200 and int(resp.headers["content-length"]) > 0
        with pytest.raises(httpx.TransportError):
            resp.read()
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(url, json=BODY, timeout=httpx.Timeout(5.0, read=0.3))
    with httpx.stream("POST", url, json=BODY, timeout=httpx.Timeout(5.0, read=0.3)) as resp:
        assert resp.status_code == 200
        with pytest.raises(httpx.ReadTimeout):
            resp.read()
    response = httpx.post(url, json=BODY)
    assert response.headers["content-type"] == "application/json" and response.content == MALFORMED_BODY


def test_error_headers(fake: AnthropicFake) -> None:
    fake.script(
        Behavior(status=429),
        Behavior(status=529, retry_after=1.5, headers={"x-should-retry": "false"}),
    )
    first = httpx.post(f"{fake.url}/v1/messages", json=BODY)
    assert first.status_code == 429 and first.headers["retry-after"] == "0"
    assert first.json()["error"]["type"] == "rate_limit_error" and first.headers["request-id"].startswith("req_")
    second = httpx.post(f"{fake.url}/v1/messages", json=BODY)
    assert second.status_code == 529 and second.headers["retry-after"] == "1.5"
    assert second.headers["x-should-retry"] == "false" and second.json()["error"]["type"] == "overloaded_error"


def test_script_is_fifo_then_default(fake: AnthropicFake) -> None:
    fake.script(*(Behavior(content=[Text(word)]) for word in ("one", "two", "three")))
    assert fake.pending == 3
    texts = [httpx.post(f"{fake.url}/v1/messages", json=BODY).json()["content"][0]["text"] for _ in range(4)]
    assert texts == ["one", "two", "three", "Hello from anthropic-fake"]
    fake.default = Behavior(content=[Text("new default")])
    assert httpx.post(f"{fake.url}/v1/messages", json=BODY).json()["content"][0]["text"] == "new default"
    fake.reset()
    assert fake.requests == [] and fake.default == Behavior()


def test_script_is_consumed_once_under_concurrency(fake: AnthropicFake) -> None:
    words = [f"w{i}" for i in range(40)]
    fake.script(*(Behavior(content=[Text(w)]) for w in words))
    seen: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        with httpx.Client() as client:
            for _ in range(5):
                text = client.post(f"{fake.url}/v1/messages", json=BODY).json()["content"][0]["text"]
                with lock:
                    seen.append(text)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(seen) == sorted(words) and fake.pending == 0


def test_script_pops_each_behavior_once_across_threads() -> None:
    default = Behavior()
    script = Script(default)
    pushed = [Behavior(status=200 + i % 50, latency_s=i) for i in range(20_000)]
    script.push(*pushed)
    popped: list[list[Behavior]] = [[] for _ in range(4)]

    def worker(out: list[Behavior]) -> None:
        while (b := script.next()) is not default:
            out.append(b)

    threads = [threading.Thread(target=worker, args=(out,)) for out in popped]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(b.latency_s for out in popped for b in out) == list(range(20_000))
