"""gateway.streaming.relay on scripted byte sources: framing, keep-alives between events only, honest endings."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from gateway.streaming import KEEPALIVE, relay

START = b'event: message_start\ndata: {"type":"message_start"}\n\n'
STOP = b'event: message_stop\ndata: {"type":"message_stop"}\n\n'


class Source:
    def __init__(self, *steps: bytes | float) -> None:
        self.steps = steps
        self.closed = False

    async def chunks(self) -> AsyncIterator[bytes]:
        for step in self.steps:
            if isinstance(step, float):
                await asyncio.sleep(step)
            else:
                yield step

    def close(self) -> None:
        self.closed = True


async def _collect(source: Source, keepalive: float = 10, idle: float = 5) -> list[bytes]:
    return [c async for c in relay(source.chunks(), source.close, keepalive=keepalive, idle_timeout=idle)]


async def test_events_split_across_chunks_are_forwarded_whole() -> None:
    source = Source(START[:10], START[10:] + STOP[:5], STOP[5:])
    out = await _collect(source)
    assert b"".join(out) == START + STOP
    assert out[0] == START  # nothing forwarded before the event was complete
    assert source.closed


async def test_keepalive_only_between_events() -> None:
    source = Source(START, 0.35, STOP[:12], 0.35, STOP[12:])
    out = await _collect(source, keepalive=0.1)
    joined = b"".join(out)
    first_gap = joined[len(START) : joined.index(b"event: message_stop")]
    assert first_gap.count(KEEPALIVE) >= 2  # silence after a complete event: comments
    stop_at = joined.index(b"event: message_stop")
    assert KEEPALIVE not in joined[stop_at:]  # never inside a partial event


async def test_end_before_message_stop_is_an_error_event() -> None:
    out = await _collect(Source(START))
    assert out[-1].startswith(b"event: error\n") and b"ended before the message was complete" in out[-1]


async def test_garbage_frame_is_an_error_event_and_nothing_after_it() -> None:
    out = await _collect(Source(START + b"this is not sse\n\n" + STOP))
    assert out[0] == START
    assert b"malformed" in out[-1] and STOP not in b"".join(out)


async def test_silence_beyond_the_idle_timeout_abandons_the_stream() -> None:
    out = await _collect(Source(START, 2.0, STOP), keepalive=0.1, idle=0.5)
    assert b"sent nothing for 0.5 s" in out[-1]


async def test_consumer_going_away_closes_the_upstream() -> None:
    source = Source(START, 5.0, STOP)
    stream = relay(source.chunks(), source.close, keepalive=10, idle_timeout=30)
    assert await anext(stream) == START
    await stream.aclose()  # what starlette does when the client disconnects
    assert source.closed
