"""Fake Anthropic Messages upstream: `POST /v1/messages` (JSON and SSE), `count_tokens`, `GET /v1/models`.

Every route is also served under `/anthropic` (DeepSeek / MiMo style base URLs). `?beta=true` is accepted and ignored.
Scripted `Behavior`s are consumed by `POST .../v1/messages` only; count_tokens and models answer with the default
behaviour's latency and status.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import orjson
from aiohttp import web

from bench.fakes.behavior import Behavior, Block, ServerBlock, Text, Thinking, ToolUse, split_chunks
from bench.fakes.sending import ID_MARK, TOKENS_MARK, Template, send_body, send_stream
from bench.fakes.server import FakeServer

MALFORMED_FRAME = b'event: content_block_delta\ndata: {"type": "content_block_delta", <<this is not JSON>>\n\n'
MALFORMED_BODY = b'{"id": "msg_garbage", "type": "message", <<this is not JSON>>'
SSE_HEADERS = {"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"}
MODEL_CREATED_AT = "2025-09-29T00:00:00Z"


def _dumps(obj: Any) -> bytes:
    return orjson.dumps(obj)


def sse(event: str, data: Any) -> bytes:
    """One SSE event: `event: <type>\\ndata: <json>\\n\\n`."""
    return b"event: " + event.encode() + b"\ndata: " + _dumps(data) + b"\n\n"


def output_tokens(blocks: Sequence[Block]) -> int:
    chars = 0
    for block in blocks:
        if isinstance(block, Text):
            chars += len(block.text)
        elif isinstance(block, Thinking):
            chars += len(block.thinking)
        elif isinstance(block, ServerBlock):
            chars += len(_dumps(dict(block.block)))
        else:
            chars += len(_dumps(dict(block.input)))
    return max(1, chars // 4)


def tool_id(block: ToolUse, index: int) -> str:
    return block.id or f"toolu_{ID_MARK}_{index}"


def content_json(blocks: Sequence[Block]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i, block in enumerate(blocks):
        if isinstance(block, Text):
            out.append({"type": "text", "text": block.text})
        elif isinstance(block, Thinking):
            out.append({"type": "thinking", "thinking": block.thinking, "signature": block.signature})
        elif isinstance(block, ServerBlock):
            out.append(dict(block.block))
        else:
            out.append({"type": "tool_use", "id": tool_id(block, i), "name": block.name, "input": dict(block.input)})
    return out


def stop_reason_for(behavior: Behavior, blocks: Sequence[Block]) -> str:
    if behavior.stop_reason is not None:
        return behavior.stop_reason
    return "tool_use" if any(isinstance(b, ToolUse) for b in blocks) else "end_turn"


def usage_json(behavior: Behavior, blocks: Sequence[Block], output: int | None = None) -> dict[str, int]:
    return {
        "input_tokens": TOKENS_MARK if behavior.input_tokens is None else behavior.input_tokens,
        "cache_creation_input_tokens": behavior.cache_creation_input_tokens,
        "cache_read_input_tokens": behavior.cache_read_input_tokens,
        "output_tokens": output_tokens(blocks) if output is None else output,
    }


def message_json(model: str, blocks: Sequence[Block], behavior: Behavior) -> dict[str, Any]:
    """The non-streaming `Message` (id and input tokens are template markers)."""
    return {
        "id": f"msg_{ID_MARK}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content_json(blocks),
        "stop_reason": stop_reason_for(behavior, blocks),
        "stop_sequence": None,
        "usage": usage_json(behavior, blocks),
    }


def block_events(index: int, block: Block) -> list[tuple[str, dict[str, Any]]]:
    """content_block_start, its deltas, content_block_stop."""
    if isinstance(block, Text):
        start: dict[str, Any] = {"type": "text", "text": ""}
        deltas = [{"type": "text_delta", "text": piece} for piece in split_chunks(block.text, block.chunks)]
    elif isinstance(block, Thinking):
        start = {"type": "thinking", "thinking": "", "signature": ""}
        deltas = [{"type": "thinking_delta", "thinking": p} for p in split_chunks(block.thinking, block.chunks)]
        deltas.append({"type": "signature_delta", "signature": block.signature})
    elif isinstance(block, ServerBlock):
        start, deltas = dict(block.block), []
    else:
        start = {"type": "tool_use", "id": tool_id(block, index), "name": block.name, "input": {}}
        partial = _dumps(dict(block.input)).decode()
        deltas = [{"type": "input_json_delta", "partial_json": p} for p in split_chunks(partial, block.chunks)]
    events: list[tuple[str, dict[str, Any]]] = [
        ("content_block_start", {"type": "content_block_start", "index": index, "content_block": start})
    ]
    events += [("content_block_delta", {"type": "content_block_delta", "index": index, "delta": d}) for d in deltas]
    events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    return events


def stream_events(model: str, blocks: Sequence[Block], behavior: Behavior) -> list[tuple[str, dict[str, Any]]]:
    """The SSE sequence: message_start, ping, blocks (a ping between blocks), message_delta, message_stop."""
    start = message_json(model, [], behavior)
    start["stop_reason"] = None
    start["usage"] = usage_json(behavior, blocks, output=1)
    events: list[tuple[str, dict[str, Any]]] = [("message_start", {"type": "message_start", "message": start})]
    events.append(("ping", {"type": "ping"}))
    for i, block in enumerate(blocks):
        if i:
            events.append(("ping", {"type": "ping"}))
        events += block_events(i, block)
    delta = {"stop_reason": stop_reason_for(behavior, blocks), "stop_sequence": None}
    events.append(("message_delta", {"type": "message_delta", "delta": delta, "usage": usage_json(behavior, blocks)}))
    events.append(("message_stop", {"type": "message_stop"}))
    return events


def validate_body(body: Any, *, need_max_tokens: bool = True) -> str | None:
    """Anthropic-style 400 message for a body missing model / max_tokens / messages, else None."""
    if not isinstance(body, dict):
        return "request body must be a JSON object"
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "model: Field required"
    if need_max_tokens:
        mt = body.get("max_tokens")
        if not isinstance(mt, int) or isinstance(mt, bool) or mt < 1:
            return "max_tokens: Field required (an integer >= 1)"
    if not isinstance(body.get("messages"), list):
        return "messages: Field required"
    return None


def cache_prefix(body: Any) -> bytes:
    """What a prompt cache keys on, simplified: system prompt, tools and the first message."""
    if not isinstance(body, dict):
        return b""
    messages = body.get("messages") or [None]
    return _dumps([body.get("system"), body.get("tools"), messages[0]])


class AnthropicFake(FakeServer):
    """Fake Anthropic upstream. `default` content: `Text(f"Hello from {name}")` (name defaults to anthropic-fake).

    `prompt_cache = True` simulates a per-server prompt cache: the first request with a given `cache_prefix` reports
    the prefix's tokens (len // 4) as `cache_creation_input_tokens`, every later one as `cache_read_input_tokens`
    (the rest of the body as `input_tokens`)."""

    kind = "anthropic"
    default_models = ("claude-sonnet-4-5", "claude-opus-4-1", "claude-haiku-4-5")
    prompt_cache = False

    def cached_prompt(self, raw: bytes, body: Any, behavior: Behavior) -> Behavior:
        prefix = cache_prefix(body)
        tokens = max(1, len(prefix) // 4)
        seen: set[bytes] | None = getattr(self, "_prefixes", None)
        if seen is None:
            seen = set()
            self._prefixes = seen
        hit = prefix in seen
        seen.add(prefix)
        rest = max(1, len(raw) // 4 - tokens)
        if hit:
            return dataclasses.replace(behavior, cache_read_input_tokens=tokens, input_tokens=rest)
        return dataclasses.replace(behavior, cache_creation_input_tokens=tokens, input_tokens=rest)

    def routes(self) -> list[web.AbstractRouteDef]:
        routes: list[web.AbstractRouteDef] = []
        for prefix in ("", "/anthropic"):
            routes += [
                web.post(f"{prefix}/v1/messages", self.messages),
                web.post(f"{prefix}/v1/messages/count_tokens", self.count_tokens),
                web.get(f"{prefix}/v1/models", self.list_models),
                web.get(f"{prefix}/v1/models/{{model_id}}", self.get_model),
            ]
        return routes

    def error_body(self, status: int, error_type: str, message: str) -> bytes:
        return _dumps({"type": "error", "error": {"type": error_type, "message": message}})

    def base_headers(self) -> dict[str, str]:
        return {"request-id": f"req_fake{self.next_id():016d}"}

    def blocks_for(self, behavior: Behavior) -> Sequence[Block]:
        return behavior.content if behavior.content is not None else (Text(f"Hello from {self.name}"),)

    def template(self, model: str, stream: bool, behavior: Behavior) -> Template:
        def build() -> Template:
            blocks = self.blocks_for(behavior)
            if stream:
                return Template.of([sse(name, data) for name, data in stream_events(model, blocks, behavior)])
            return Template.of([_dumps(message_json(model, blocks, behavior))])

        return self.cached_template((model, stream), behavior, build)

    async def messages(self, request: web.Request) -> web.StreamResponse:
        raw, body = await self.receive(request)
        if self.validate and (problem := validate_body(body)) is not None:
            return self.error(400, "invalid_request_error", problem)
        behavior = self.next_behavior()
        early = await self.preamble(request, behavior)
        if early is not None:
            return early
        if self.prompt_cache:
            behavior = self.cached_prompt(raw, body, behavior)
        model = str(body.get("model", "")) if isinstance(body, dict) else ""
        stream = isinstance(body, dict) and body.get("stream") is True
        frames = self.template(model, stream, behavior).fill(f"01fake{self.next_id():018d}", max(1, len(raw) // 4))
        headers = {**self.base_headers(), **behavior.response_headers()}
        if not stream:
            return await send_body(request, behavior, frames[0], headers, MALFORMED_BODY)
        message = behavior.error_message or "Overloaded"
        error = {"type": "error", "error": {"type": behavior.resolved_error_type(), "message": message}}
        return await send_stream(
            request, behavior, frames, {**SSE_HEADERS, **headers}, MALFORMED_FRAME, sse("error", error)
        )

    async def count_tokens(self, request: web.Request) -> web.StreamResponse:
        raw, body = await self.receive(request)
        if self.validate and (problem := validate_body(body, need_max_tokens=False)) is not None:
            return self.error(400, "invalid_request_error", problem)
        early = await self.preamble(request, self.default)
        if early is not None:
            return early
        return web.Response(body=_dumps({"input_tokens": max(1, len(raw) // 4)}), headers=self._json_headers())

    def _json_headers(self) -> dict[str, str]:
        return {"content-type": "application/json", **self.base_headers()}

    def model_json(self, model_id: str) -> dict[str, Any]:
        return {
            "type": "model",
            "id": model_id,
            "display_name": model_id,
            "created_at": MODEL_CREATED_AT,
            "lifecycle": "active",
        }

    async def list_models(self, request: web.Request) -> web.StreamResponse:
        await self.receive(request)
        early = await self.preamble(request, self.default)
        if early is not None:
            return early
        data = [self.model_json(m) for m in self.models]
        page = {
            "data": data,
            "has_more": False,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
        }
        return web.Response(body=_dumps(page), headers=self._json_headers())

    async def get_model(self, request: web.Request) -> web.StreamResponse:
        await self.receive(request)
        early = await self.preamble(request, self.default)
        if early is not None:
            return early
        model_id = request.match_info["model_id"]
        if model_id not in self.models:
            return self.error(404, "not_found_error", f"model: {model_id}")
        return web.Response(body=_dumps(self.model_json(model_id)), headers=self._json_headers())
