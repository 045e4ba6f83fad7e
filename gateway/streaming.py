"""The one owner of SSE relaying: upstream events → client, with keep-alives and honest failures.

- Events are forwarded as soon as they are complete (at most one partial event is held, never the stream).
- During upstream silence a comment line (``: keep-alive``) is sent every ``keepalive`` seconds, only between
  events. Comments, not ``event: ping``: a comment never resets a client's idle watchdog into masking a dead
  upstream (peers.md §4.7) and strict SDK 2.x parsers skip it.
- A malformed frame, a connection reset, a stall longer than ``idle_timeout`` or an end of stream before
  ``message_stop`` becomes an SSE ``error`` event in Anthropic's envelope: the client never sees a silent truncation.
- A client disconnect cancels the generator, which closes the upstream connection (the request is cancelled).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import orjson

KEEPALIVE = b": keep-alive\n\n"
FIELD_PREFIXES = (b"event:", b"data:", b"id:", b"retry:", b":")


def error_event(message: str, error_type: str = "api_error") -> bytes:
    payload = orjson.dumps({"type": "error", "error": {"type": error_type, "message": message}})
    return b"event: error\ndata: " + payload + b"\n\n"


def _well_formed(event: bytes) -> bool:
    """Every line is an SSE field or comment, and the data of the event is JSON (Anthropic events always are)."""
    lines = event.split(b"\n")
    if not all(not line or line.startswith(FIELD_PREFIXES) for line in lines):
        return False
    data = [line[5:].strip() for line in lines if line.startswith(b"data:")]
    if not data:
        return True
    try:
        orjson.loads(b"\n".join(data))
    except orjson.JSONDecodeError:
        return False
    return True


def _event_name(event: bytes) -> bytes | None:
    for line in event.split(b"\n"):
        if line.startswith(b"event:"):
            return line[6:].strip()
    return None


async def relay(
    response: aiohttp.ClientResponse,
    *,
    keepalive: float,
    idle_timeout: float,
    terminal_event: bytes | None = b"message_stop",
) -> AsyncIterator[bytes]:
    """Yield the upstream SSE stream event by event (see the module doc)."""
    tail = b""
    finished = terminal_event is None
    silent_for = 0.0
    read: asyncio.Task[bytes] | None = None
    try:
        while True:
            if read is None:
                read = asyncio.ensure_future(response.content.readany())
            wait = min(keepalive, max(idle_timeout - silent_for, 0.001)) if keepalive > 0 else idle_timeout
            done, _pending = await asyncio.wait({read}, timeout=wait)
            if not done:
                silent_for += wait
                if silent_for >= idle_timeout:
                    yield error_event(f"upstream sent nothing for {idle_timeout:g} s; the stream was abandoned")
                    return
                if not tail:
                    yield KEEPALIVE
                continue
            try:
                chunk = read.result()
            except (aiohttp.ClientError, ConnectionError, TimeoutError) as exc:
                yield error_event(f"upstream connection failed mid-stream ({type(exc).__name__})")
                return
            finally:
                read = None
            silent_for = 0.0
            if not chunk:
                if tail.strip() or not finished:
                    yield error_event("upstream stream ended before the message was complete")
                return
            data = tail + chunk.replace(b"\r\n", b"\n")
            *events, tail = data.split(b"\n\n")
            out: list[bytes] = []
            for event in events:
                if not event:
                    continue
                if not _well_formed(event):
                    if out:
                        yield b"".join(out)
                    yield error_event("upstream sent a malformed server-sent event; the stream was abandoned")
                    return
                if terminal_event is not None and _event_name(event) in (terminal_event, b"error"):
                    finished = True
                out.append(event + b"\n\n")
            if out:
                yield b"".join(out)
    finally:
        if read is not None:
            read.cancel()
        response.close()
