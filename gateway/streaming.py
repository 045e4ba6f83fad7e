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
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import orjson
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

KEEPALIVE = b": keep-alive\n\n"
SUBSCRIPTION_EXTENSION = "gateway.subscription"
FIELD_PREFIXES = (b"event:", b"data:", b"id:", b"retry:", b":")


def error_event(message: str, error_type: str = "api_error") -> bytes:
    payload = orjson.dumps({"type": "error", "error": {"type": error_type, "message": message}})
    return b"event: error\ndata: " + payload + b"\n\n"


class SubscriptionResponse(StreamingResponse):
    """An SSE tail that only ends when its subject does (a session's or a code session's event stream). It marks
    its request in the scope's extensions, so that a drain ends it as soon as the server stops accepting (with an
    ``error`` event; a client can resume on another process with ``Last-Event-ID``) instead of holding the
    process for the whole grace period."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope.setdefault("extensions", {})[SUBSCRIPTION_EXTENSION] = True
        await super().__call__(scope, receive, send)


EventFix = Callable[[dict[str, Any]], bool]  # mutates an event's data in place; True if it changed it


def _checked(event: bytes, fix: EventFix | None) -> bytes | None:
    """The event (re-encoded if ``fix`` changed it), or None when it is malformed: a line that is not an SSE field
    or comment, or data that is not JSON (Anthropic events always carry JSON)."""
    lines = event.split(b"\n")
    if not all(not line or line.startswith(FIELD_PREFIXES) for line in lines):
        return None
    data = [line[5:].strip() for line in lines if line.startswith(b"data:")]
    if not data:
        return event
    try:
        parsed = orjson.loads(b"\n".join(data))
    except orjson.JSONDecodeError:
        return None
    if fix is not None and isinstance(parsed, dict) and fix(parsed):
        kept = [line for line in lines if not line.startswith(b"data:")]
        return b"\n".join([*kept, b"data: " + orjson.dumps(parsed)])
    return event


def _event_name(event: bytes) -> bytes | None:
    for line in event.split(b"\n"):
        if line.startswith(b"event:"):
            return line[6:].strip()
    return None


async def relay(
    source: AsyncIterator[bytes],
    close: Callable[[], Any],
    *,
    keepalive: float,
    idle_timeout: float,
    terminal_event: bytes | None = b"message_stop",
    fix: EventFix | None = None,
) -> AsyncIterator[bytes]:
    """Yield the upstream SSE stream event by event (see the module doc); ``close`` releases the upstream."""
    tail = b""
    finished = terminal_event is None
    silent_for = 0.0
    read: asyncio.Task[bytes] | None = None
    try:
        while True:
            if read is None:
                read = asyncio.ensure_future(anext(source, b""))
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
            except (aiohttp.ClientError, ConnectionError, TimeoutError, OSError) as exc:
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
                checked = _checked(event, fix)
                if checked is None:
                    if out:
                        yield b"".join(out)
                    yield error_event("upstream sent a malformed server-sent event; the stream was abandoned")
                    return
                if terminal_event is not None and _event_name(checked) in (terminal_event, b"error"):
                    finished = True
                out.append(checked + b"\n\n")
            if out:
                yield b"".join(out)
    finally:
        if read is not None:
            read.cancel()
        result = close()
        if asyncio.iscoroutine(result):
            await result
