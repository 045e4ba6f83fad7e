"""One model request of a session turn, made through the gateway's own native router in-process.

The request is a streaming ``POST /v1/messages`` body handed to :meth:`gateway.native.NativeService.messages`, so
the agent's model id is routed by tier and effort with the same hygiene, failover and cooldowns as a client's
request, and no HTTP hop is made to the gateway itself. The SSE answer is folded into the assistant content blocks
(thinking signatures and ``toolu_`` ids kept), the stop reason and the four usage counters; text and block starts
are reported to a :class:`Sink` as they arrive (the runtime turns them into previews)."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
from starlette.responses import Response, StreamingResponse

from gateway.errors import GatewayError, error_type_for

ERROR_STATUS = {"overloaded_error": 529, "rate_limit_error": 429, "timeout_error": 504, "api_error": 500}
RETRYABLE = frozenset({408, 409, 429, 500, 502, 503, 504, 529})
HEADERS = {"anthropic-version": "2023-06-01", "content-type": "application/json"}
USAGE_KEYS = ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")


class ModelFailure(Exception):
    """The model request failed: ``status`` (HTTP, or the status of an in-stream error's type), Anthropic error
    type, message and the upstream's ``retry-after`` seconds when it gave one."""

    def __init__(
        self,
        status: int,
        error_type: str,
        message: str,
        retry_after: float | None = None,
        should_retry: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.error_type, self.message, self.retry_after = status, error_type, message, retry_after
        self.should_retry = should_retry  # the answer's x-should-retry, when it had one

    @property
    def retryable(self) -> bool:
        """Worth retrying: a retryable status, unless the answer said ``x-should-retry: false`` (a spent budget's
        ``billing_error``: retrying cannot help until the window resets)."""
        if self.should_retry is not None:
            return self.should_retry
        return self.status in RETRYABLE


class Sink(Protocol):
    def block_start(self, index: int, kind: str) -> None: ...

    def text(self, index: int, piece: str) -> None: ...


class Native(Protocol):
    async def messages(self, body: dict[str, Any], raw: bytes, headers: Mapping[str, str]) -> Response: ...


@dataclass
class Result:
    content: list[dict[str, Any]] = field(default_factory=list)
    stop_reason: str = "end_turn"
    usage: dict[str, int] = field(default_factory=lambda: dict.fromkeys(USAGE_KEYS, 0))
    model: str | None = None


def _should_retry(headers: Mapping[str, str]) -> bool | None:
    value = str(headers.get("x-should-retry", "")).strip().lower()
    return {"true": True, "false": False}.get(value)


def _retry_after(headers: Mapping[str, str]) -> float | None:
    try:
        return float(headers["retry-after"])
    except (KeyError, ValueError):
        return None


def _failure_of(status: int, body: bytes, headers: Mapping[str, str]) -> ModelFailure:
    error_type, message = error_type_for(status), f"the model answered {status}"
    try:
        error = orjson.loads(body).get("error") or {}
        error_type = str(error.get("type") or error_type)
        message = str(error.get("message") or message)
    except (orjson.JSONDecodeError, AttributeError):
        pass
    return ModelFailure(status, error_type, message, _retry_after(headers), _should_retry(headers))


def _usage(into: dict[str, int], usage: Any) -> None:
    if isinstance(usage, Mapping):
        for key in USAGE_KEYS:
            value = usage.get(key)
            if isinstance(value, int) and not isinstance(value, bool):
                into[key] = value


async def _frames(body: AsyncIterable[Any]) -> AsyncIterator[tuple[str, bytes]]:
    """(event name, data) per SSE frame; comments and frames without data are skipped."""
    buffer = b""
    async for chunk in body:
        buffer += chunk.encode() if isinstance(chunk, str) else bytes(chunk)
        buffer = buffer.replace(b"\r\n", b"\n")
        while b"\n\n" in buffer:
            frame, buffer = buffer.split(b"\n\n", 1)
            name, data = "", b""
            for line in frame.split(b"\n"):
                if line.startswith(b"event:"):
                    name = line[6:].strip().decode()
                elif line.startswith(b"data:"):
                    data += line[5:].strip()
            if data:
                yield name, data


def _fold(result: Result, event: Mapping[str, Any], partial: dict[int, str], sink: Sink) -> None:
    kind = event.get("type")
    if kind == "message_start":
        message = event.get("message") or {}
        result.model = message.get("model")
        _usage(result.usage, message.get("usage"))
    elif kind == "content_block_start":
        index = int(event.get("index", len(result.content)))
        block = dict(event.get("content_block") or {})
        while len(result.content) <= index:
            result.content.append({})
        if block.get("type") == "tool_use":
            block["input"] = {}
            partial[index] = ""
        result.content[index] = block
        sink.block_start(index, str(block.get("type")))
        if block.get("type") == "text" and block.get("text"):
            sink.text(index, str(block["text"]))
    elif kind == "content_block_delta":
        index = int(event.get("index", 0))
        delta = event.get("delta") or {}
        if index >= len(result.content):
            return
        block = result.content[index]
        dtype = delta.get("type")
        if dtype == "text_delta":
            block["text"] = str(block.get("text", "")) + str(delta.get("text", ""))
            sink.text(index, str(delta.get("text", "")))
        elif dtype == "thinking_delta":
            block["thinking"] = str(block.get("thinking", "")) + str(delta.get("thinking", ""))
        elif dtype == "signature_delta":
            block["signature"] = str(block.get("signature", "")) + str(delta.get("signature", ""))
        elif dtype == "input_json_delta":
            partial[index] = partial.get(index, "") + str(delta.get("partial_json", ""))
    elif kind == "content_block_stop":
        index = int(event.get("index", 0))
        if index in partial and index < len(result.content):
            text = partial.pop(index)
            try:
                parsed = orjson.loads(text) if text.strip() else {}
            except orjson.JSONDecodeError:
                parsed = {}
            result.content[index]["input"] = parsed if isinstance(parsed, dict) else {}
    elif kind == "message_delta":
        delta = event.get("delta") or {}
        if delta.get("stop_reason"):
            result.stop_reason = str(delta["stop_reason"])
        _usage(result.usage, event.get("usage"))


async def request(native: Native, body: dict[str, Any], sink: Sink) -> Result:
    """Make the request; raises :class:`ModelFailure` for an error answer or an in-stream ``error`` event."""
    try:
        response = await native.messages(body, orjson.dumps(body), HEADERS)
    except GatewayError as error:
        headers = error.headers or {}
        raise ModelFailure(
            error.status, error.error_type, error.message, _retry_after(headers), _should_retry(headers)
        ) from error
    if response.status_code >= 400 or not isinstance(response, StreamingResponse):
        if response.status_code >= 400:
            raise _failure_of(response.status_code, bytes(response.body), response.headers)
        return _whole(orjson.loads(response.body))
    result, partial = Result(), dict[int, str]()
    body_iterator = response.body_iterator
    try:
        async for name, data in _frames(body_iterator):
            try:
                event = orjson.loads(data)
            except orjson.JSONDecodeError:
                continue
            if name == "error" or event.get("type") == "error":
                detail = event.get("error") or {}
                error_type = str(detail.get("type") or "api_error")
                raise ModelFailure(ERROR_STATUS.get(error_type, 500), error_type, str(detail.get("message") or ""))
            _fold(result, event, partial, sink)
    finally:  # an interrupt cancels us mid-stream: close the upstream response now, not when it is collected
        close = getattr(body_iterator, "aclose", None)
        if close is not None:
            await close()
    result.content = [b for b in result.content if b]
    return result


def _whole(message: Mapping[str, Any]) -> Result:
    result = Result(content=[dict(b) for b in message.get("content") or []], model=message.get("model"))
    result.stop_reason = str(message.get("stop_reason") or "end_turn")
    _usage(result.usage, message.get("usage"))
    return result
