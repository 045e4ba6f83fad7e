"""What a fake upstream does with one request: `Behavior`, the content it produces, and the FIFO `Script`.

A fake answers each inference request with the next scripted `Behavior`, or with its default when the script is
empty. Behaviours are frozen: derive variants with `dataclasses.replace(fake.default, latency_s=0.1)`.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

DEFAULT_SIGNATURE = "EqQBCkYIBxgCKkBmYWtlLXNpZ25hdHVyZS1mb3ItdGVzdHMtb25seQ=="


@dataclass(frozen=True, slots=True)
class Text:
    """A text block; streamed as `chunks` text deltas (OpenAI: `content` deltas)."""

    text: str
    chunks: int = 2


@dataclass(frozen=True, slots=True)
class Thinking:
    """A thinking block: `chunks` thinking deltas then one signature delta (OpenAI: `reasoning_content`)."""

    thinking: str
    signature: str = DEFAULT_SIGNATURE
    chunks: int = 2


@dataclass(frozen=True, slots=True)
class ToolUse:
    """A tool call; its JSON input is streamed as `chunks` partial-JSON pieces. `id` defaults by position."""

    name: str
    input: Mapping[str, Any] = field(default_factory=dict)
    id: str | None = None
    chunks: int = 2


@dataclass(frozen=True, slots=True)
class ServerBlock:
    """Any other content block, sent as given (``server_tool_use``, ``web_search_tool_result`` …): whole in its
    ``content_block_start``, without deltas. The OpenAI wire leaves it out."""

    block: Mapping[str, Any]


Block: TypeAlias = Text | Thinking | ToolUse | ServerBlock

# Anthropic's error types by HTTP status (anthropic-api.md §2.7); other 5xx: api_error, other 4xx: invalid_request_error
ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def error_type_for(status: int) -> str:
    if status in ERROR_TYPES:
        return ERROR_TYPES[status]
    return "api_error" if status >= 500 else "invalid_request_error"


@dataclass(frozen=True, slots=True)
class Behavior:
    """How to answer one request.

    status: HTTP status. 2xx answers normally; >= 400 sends the wire's error envelope (type from `error_type`, else
        by status: 429 rate_limit_error, 529 overloaded_error, 5xx api_error, 504 timeout_error, 4xx ...);
        0 aborts the TCP connection (RST) before any response byte.
    retry_after: seconds for a `retry-after` header (sent on any status; a 429 always carries one, default "0").
    latency_s: sleep before the first response byte (headers included), errors included.
    event_delay_s: sleep between consecutive SSE events (not before the first).
    stall_after_events: after N events stop sending but keep the connection open (until the client leaves or the
        fake stops). Non-streaming: N == 0 sends nothing; N >= 1 sends the headers and the first half of the body.
    reset_after_events: after N events (flushed) abort the TCP connection with an RST. Non-streaming as for stall.
    malformed_after_events: after N events inject the wire's `MALFORMED_FRAME` (SSE-framed, data is not JSON),
        then carry on. Non-streaming: the whole body is replaced by non-JSON garbage (still `application/json`).
    error_after_events: streaming only: after N events send a mid-stream `error` event (type `error_type` or
        overloaded_error) and end the stream cleanly.
    content: blocks to produce; None = the fake's default reply (`Text("Hello from <fake name>")`).
    stop_reason: override; default `tool_use` if the content has a ToolUse, else `end_turn`.
    input_tokens: usage override; default len(request body) // 4 (min 1). Output tokens: content chars // 4.
    headers: extra response headers (e.g. {"x-should-retry": "false"}).

    Events are counted as written, pings and OpenAI's `[DONE]` included; N >= the number of events means "after the
    last event, before the clean end of the response". Checked in this order at each position: malformed, error,
    reset, stall.
    """

    status: int = 200
    retry_after: float | None = None
    latency_s: float = 0.0
    event_delay_s: float = 0.0
    stall_after_events: int | None = None
    reset_after_events: int | None = None
    malformed_after_events: int | None = None
    error_after_events: int | None = None
    content: Sequence[Block] | None = None
    error_type: str | None = None
    error_message: str | None = None
    stop_reason: str | None = None
    input_tokens: int | None = None
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    headers: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.content is not None and not isinstance(self.content, tuple):
            object.__setattr__(self, "content", tuple(self.content))

    @property
    def is_error(self) -> bool:
        return self.status >= 400

    @property
    def knobbed(self) -> bool:
        """True if the response cannot be sent as one precomputed write."""
        return (
            self.event_delay_s > 0
            or self.stall_after_events is not None
            or self.reset_after_events is not None
            or self.malformed_after_events is not None
            or self.error_after_events is not None
        )

    def resolved_error_type(self) -> str:
        if self.error_type is not None:
            return self.error_type
        return error_type_for(self.status) if self.is_error else "overloaded_error"

    def resolved_error_message(self) -> str:
        return self.error_message or f"fake upstream: {self.resolved_error_type()} (status {self.status})"

    def response_headers(self) -> dict[str, str]:
        headers = dict(self.headers)
        if self.retry_after is not None:
            value = self.retry_after
            headers["retry-after"] = str(int(value)) if float(value).is_integer() else str(value)
        elif self.status == 429:
            headers["retry-after"] = "0"
        return headers

    # -- JSON form (the `/_fake/script` endpoint and `RemoteFake`) --

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "content":
                out["content"] = None if value is None else [block_to_json(b) for b in value]
            elif f.name == "headers":
                out["headers"] = dict(value)
            else:
                out[f.name] = value
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Behavior:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown Behavior fields: {sorted(unknown)}")
        kwargs = dict(data)
        if kwargs.get("content") is not None:
            kwargs["content"] = tuple(block_from_json(b) for b in kwargs["content"])
        return cls(**kwargs)


def block_to_json(block: Block) -> dict[str, Any]:
    if isinstance(block, Text):
        return {"type": "text", "text": block.text, "chunks": block.chunks}
    if isinstance(block, Thinking):
        return {"type": "thinking", "thinking": block.thinking, "signature": block.signature, "chunks": block.chunks}
    if isinstance(block, ServerBlock):
        return {"type": "server_block", "block": dict(block.block)}
    return {"type": "tool_use", "name": block.name, "input": dict(block.input), "id": block.id, "chunks": block.chunks}


def block_from_json(data: Mapping[str, Any]) -> Block:
    kind = data.get("type")
    fields = {k: v for k, v in data.items() if k != "type"}
    if kind == "text":
        return Text(**fields)
    if kind == "thinking":
        return Thinking(**fields)
    if kind == "tool_use":
        return ToolUse(**fields)
    if kind == "server_block":
        return ServerBlock(**fields)
    raise ValueError(f"unknown content block type: {kind!r}")


def split_chunks(text: str, chunks: int) -> list[str]:
    """Split `text` into `chunks` contiguous non-empty pieces (fewer if it is shorter; [""] if empty)."""
    n = max(1, min(chunks, len(text)))
    if n == 1:
        return [text]
    size, extra = divmod(len(text), n)
    pieces, start = [], 0
    for i in range(n):
        end = start + size + (1 if i < extra else 0)
        pieces.append(text[start:end])
        start = end
    return pieces


class Script:
    """Thread-safe FIFO of behaviours, one consumed per inference request, falling back to `default`."""

    def __init__(self, default: Behavior) -> None:
        self._lock = threading.Lock()
        self._queue: deque[Behavior] = deque()
        self.default = default

    def push(self, *behaviors: Behavior) -> None:
        with self._lock:
            self._queue.extend(behaviors)

    def next(self) -> Behavior:
        if not self._queue:  # fast path without the lock; popleft below re-checks under it
            return self.default
        with self._lock:
            return self._queue.popleft() if self._queue else self.default

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._queue)
