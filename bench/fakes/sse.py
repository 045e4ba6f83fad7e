"""A tiny raw SSE reader for tests: what a client sees on the wire, with arrival times."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson


@dataclass(frozen=True, slots=True)
class SSEFrame:
    raw: bytes  # the frame without its terminating blank line
    event: str | None  # the `event:` field, None if absent
    data: str  # the `data:` lines joined with "\n"
    arrived: float  # time.monotonic() when the frame was complete

    def json(self) -> Any:
        """The data parsed as JSON (raises on a malformed frame)."""
        return orjson.loads(self.data)


def parse_frame(raw: bytes, arrived: float = 0.0) -> SSEFrame:
    event: str | None = None
    data: list[str] = []
    for line in raw.decode("utf-8", "replace").split("\n"):
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
    return SSEFrame(raw, event, "\n".join(data), arrived)


def parse_sse(body: bytes) -> list[SSEFrame]:
    """Split a complete SSE body into frames (frames are separated by a blank line)."""
    return [parse_frame(chunk) for chunk in body.split(b"\n\n") if chunk.strip()]


def iter_sse(response: httpx.Response) -> Iterator[SSEFrame]:
    """Yield frames from a streaming httpx response as they complete; transport errors propagate."""
    buffer = b""
    for chunk in response.iter_raw():
        buffer += chunk
        now = time.monotonic()
        while b"\n\n" in buffer:
            raw, buffer = buffer.split(b"\n\n", 1)
            if raw.strip():
                yield parse_frame(raw, now)
