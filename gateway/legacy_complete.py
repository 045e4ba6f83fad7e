"""Legacy Text Completions (``POST /v1/complete``) served as Messages through the native router, in-process.

The prompt's ``\\n\\nHuman:`` / ``\\n\\nAssistant:`` turns become Messages turns (text before the first turn is the
system prompt; the last turn must be ``Assistant:``, and text after it is an assistant prefill whose continuation is
the completion). The Messages answer is translated back: a ``completion`` object (``id`` ``compl_…``, the text of
the text blocks, ``stop_reason`` ``stop_sequence`` for ``end_turn`` and ``stop_sequence``, ``max_tokens`` as is),
or, streaming, one ``completion`` event per text delta and a last one carrying the stop reason; ``ping`` and
``error`` events (the Anthropic envelope, also the legacy one) pass through unchanged, as do keep-alive comments.
Errors before the first byte are the gateway's usual Anthropic errors (the legacy API used the same envelope).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
from starlette.responses import Response, StreamingResponse

from gateway.errors import InvalidRequest

HUMAN, ASSISTANT = "\n\nHuman:", "\n\nAssistant:"
_TURN = re.compile(r"\n\n(Human|Assistant):")
_STOP_REASONS = {"end_turn": "stop_sequence", "stop_sequence": "stop_sequence", "max_tokens": "max_tokens"}
_COPIED = ("temperature", "top_p", "top_k", "stop_sequences", "stream")

RouteMessages = Callable[[dict[str, Any], bytes], Awaitable[Response]]


def _turns(prompt: str) -> tuple[str, list[tuple[str, str]]]:
    """The system text before the first turn and the (role, text) turns, same-role neighbours merged."""
    pieces = _TURN.split(prompt)
    system = pieces[0].strip()
    turns: list[tuple[str, str]] = []
    for speaker, text in zip(pieces[1::2], pieces[2::2], strict=True):
        role = "user" if speaker == "Human" else "assistant"
        if turns and turns[-1][0] == role:
            turns[-1] = (role, f"{turns[-1][1]}\n\n{text.strip()}".strip())
        else:
            turns.append((role, text.strip()))
    return system, turns


def to_messages(body: dict[str, Any]) -> dict[str, Any]:
    """The Messages request for a legacy completion request (400 ``invalid_request_error`` for a bad prompt)."""
    system, turns = _turns(str(body["prompt"]))
    if not turns or turns[0][0] != "user":
        raise InvalidRequest(f"prompt must start with {HUMAN!r} turn after an optional system prompt")
    if turns[-1][0] != "assistant":
        raise InvalidRequest(f"prompt must end with {ASSISTANT!r} turn")
    messages = [{"role": role, "content": text} for role, text in turns if text]
    if any(not text for role, text in turns[:-1]):
        raise InvalidRequest("prompt turns must not be empty (only the final Assistant: turn may be)")
    out: dict[str, Any] = {
        "model": body["model"],
        "max_tokens": body["max_tokens_to_sample"],
        "messages": messages,
    }
    if system:
        out["system"] = system
    out.update({key: body[key] for key in _COPIED if body.get(key) is not None})
    user_id = (body.get("metadata") or {}).get("user_id")
    if user_id is not None:
        out["metadata"] = {"user_id": user_id}
    return out


def _legacy_id(message_id: Any) -> str:
    text = str(message_id or "")
    return "compl_" + (text[4:] if text.startswith("msg_") else text)


def _stop_reason(reason: Any) -> str | None:
    return None if reason is None else _STOP_REASONS.get(str(reason), str(reason))


def completion_of(message: dict[str, Any]) -> dict[str, Any]:
    """The legacy ``completion`` object for a Messages ``message``."""
    text = "".join(str(b.get("text", "")) for b in message.get("content") or [] if b.get("type") == "text")
    return {
        "type": "completion",
        "id": _legacy_id(message.get("id")),
        "completion": text,
        "stop_reason": _stop_reason(message.get("stop_reason")),
        "model": message.get("model"),
    }


def _frame(name: str, data: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def _data(event: bytes) -> dict[str, Any] | None:
    lines = [line[5:].strip() for line in event.split(b"\n") if line.startswith(b"data:")]
    if not lines:
        return None
    try:
        parsed = orjson.loads(b"\n".join(lines))
    except orjson.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, dict) else None


class _StreamState:
    def __init__(self) -> None:
        self.id, self.model = "compl_", None

    def translate(self, event: bytes) -> bytes:
        """The legacy frame(s) for one Messages SSE event (b"" when it has none)."""
        data = _data(event)
        if data is None:
            return event + b"\n\n" if event.startswith(b":") else b""
        kind = data.get("type")
        if kind in ("ping", "error"):
            return event + b"\n\n"
        if kind == "message_start":
            message = data.get("message") or {}
            self.id, self.model = _legacy_id(message.get("id")), message.get("model")
            return b""
        if kind == "content_block_delta" and (data.get("delta") or {}).get("type") == "text_delta":
            return self._chunk(str(data["delta"].get("text", "")), None)
        if kind == "message_delta" and (data.get("delta") or {}).get("stop_reason") is not None:
            return self._chunk("", _stop_reason(data["delta"]["stop_reason"]))
        return b""

    def _chunk(self, text: str, stop_reason: str | None) -> bytes:
        body = {"type": "completion", "id": self.id, "completion": text, "stop_reason": stop_reason}
        return _frame("completion", {**body, "model": self.model})


async def completion_events(source: AsyncIterable[Any]) -> AsyncIterator[bytes]:
    """The legacy ``completion`` stream for a relayed Messages stream (whole events per chunk, see streaming.py)."""
    state = _StreamState()
    async for chunk in source:
        raw = chunk.encode() if isinstance(chunk, str) else bytes(chunk)
        out = b"".join(state.translate(event) for event in raw.split(b"\n\n") if event.strip())
        if out:
            yield out


async def complete(body: dict[str, Any], route: RouteMessages) -> Response:
    """``POST /v1/complete``: ``body`` translated, sent through ``route`` (the native Messages path) and back."""
    request = to_messages(body)
    response = await route(request, orjson.dumps(request))
    if response.status_code != 200:
        return response
    if isinstance(response, StreamingResponse):
        response.body_iterator = completion_events(response.body_iterator)
        return response
    document = orjson.loads(response.body)
    headers = {k: v for k, v in response.headers.items() if k not in ("content-length", "content-type")}
    return Response(orjson.dumps(completion_of(document)), media_type="application/json", headers=headers)
