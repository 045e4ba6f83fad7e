"""Fake OpenAI chat-completions upstream: `POST /v1/chat/completions` (JSON and SSE), `GET /v1/models`.

Routes are also served without the `/v1` prefix (DeepSeek-style base URLs). Content blocks map to OpenAI fields:
`Text` -> `content`, `Thinking` -> `reasoning_content` (signature dropped), `ToolUse` -> `tool_calls`.
Scripted `Behavior`s are consumed by chat completions only; models answer with the default's latency and status.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from aiohttp import web

from bench.fakes.anthropic_wire import output_tokens
from bench.fakes.behavior import Behavior, Block, Text, Thinking, ToolUse, split_chunks
from bench.fakes.sending import ID_MARK, TOKENS_MARK, TOTAL_MARK, Template, send_body, send_stream
from bench.fakes.server import FakeServer

MALFORMED_FRAME = b'data: {"id": "chatcmpl-garbage", <<this is not JSON>>\n\n'
MALFORMED_BODY = b'{"id": "chatcmpl-garbage", "object": "chat.completion", <<this is not JSON>>'
DONE_FRAME = b"data: [DONE]\n\n"
SSE_HEADERS = {"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"}
FINISH_REASONS = {"end_turn": "stop", "tool_use": "tool_calls", "max_tokens": "length", "stop_sequence": "stop"}


def data_frame(obj: Any) -> bytes:
    return b"data: " + orjson.dumps(obj) + b"\n\n"


def call_id(block: ToolUse, index: int) -> str:
    return block.id or f"call_{ID_MARK}_{index}"


def finish_reason_for(behavior: Behavior, blocks: Sequence[Block]) -> str:
    if behavior.stop_reason is not None:
        return FINISH_REASONS.get(behavior.stop_reason, behavior.stop_reason)
    return "tool_calls" if any(isinstance(b, ToolUse) for b in blocks) else "stop"


def usage_json(behavior: Behavior, blocks: Sequence[Block]) -> dict[str, Any]:
    completion = output_tokens(blocks)
    reasoning = sum(max(1, len(b.thinking) // 4) for b in blocks if isinstance(b, Thinking))
    prompt = TOKENS_MARK if behavior.input_tokens is None else behavior.input_tokens
    total = TOTAL_MARK if behavior.input_tokens is None else behavior.input_tokens + completion
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": total,
        "prompt_tokens_details": {"cached_tokens": behavior.cache_read_input_tokens},
        "completion_tokens_details": {"reasoning_tokens": reasoning},
    }


def tool_calls_json(blocks: Sequence[Block]) -> list[dict[str, Any]]:
    calls = [(i, b) for i, b in enumerate(blocks) if isinstance(b, ToolUse)]
    return [
        {
            "id": call_id(b, i),
            "type": "function",
            "function": {"name": b.name, "arguments": orjson.dumps(dict(b.input)).decode()},
        }
        for i, b in calls
    ]


def completion_json(model: str, blocks: Sequence[Block], behavior: Behavior, created: int) -> dict[str, Any]:
    texts = [b.text for b in blocks if isinstance(b, Text)]
    thoughts = [b.thinking for b in blocks if isinstance(b, Thinking)]
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts else None, "refusal": None}
    if thoughts:
        message["reasoning_content"] = "".join(thoughts)
    if calls := tool_calls_json(blocks):
        message["tool_calls"] = calls
    return {
        "id": f"chatcmpl-{ID_MARK}",
        "object": "chat.completion",
        "created": created,
        "model": model,
        "system_fingerprint": None,
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason_for(behavior, blocks)}
        ],
        "usage": usage_json(behavior, blocks),
    }


def deltas(blocks: Sequence[Block]) -> list[dict[str, Any]]:
    """The `delta` objects after the first (role) chunk, in block order."""
    out: list[dict[str, Any]] = []
    tool_index = 0
    for i, block in enumerate(blocks):
        if isinstance(block, Text):
            out += [{"content": p} for p in split_chunks(block.text, block.chunks)]
        elif isinstance(block, Thinking):
            out += [{"reasoning_content": p} for p in split_chunks(block.thinking, block.chunks)]
        elif isinstance(block, ToolUse):
            head = {"index": tool_index, "id": call_id(block, i), "type": "function"}
            out.append({"tool_calls": [{**head, "function": {"name": block.name, "arguments": ""}}]})
            arguments = orjson.dumps(dict(block.input)).decode()
            for piece in split_chunks(arguments, block.chunks):
                out.append({"tool_calls": [{"index": tool_index, "function": {"arguments": piece}}]})
            tool_index += 1
    return out


def stream_chunks(
    model: str, blocks: Sequence[Block], behavior: Behavior, created: int, include_usage: bool
) -> list[dict[str, Any]]:
    """The chunk sequence: role chunk, content/reasoning/tool deltas, finish chunk, then the usage chunk if asked."""

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        obj: dict[str, Any] = {
            "id": f"chatcmpl-{ID_MARK}",
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": None,
            "choices": [choice],
        }
        if include_usage:
            obj["usage"] = None
        return obj

    chunks = [chunk({"role": "assistant", "content": ""})]
    chunks += [chunk(d) for d in deltas(blocks)]
    chunks.append(chunk({}, finish_reason_for(behavior, blocks)))
    if include_usage:
        last = chunk({})
        last["choices"] = []
        last["usage"] = usage_json(behavior, blocks)
        chunks.append(last)
    return chunks


def validate_body(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "request body must be a JSON object"
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "you must provide a model parameter"
    if not isinstance(body.get("messages"), list):
        return "'messages' is a required property"
    return None


class OpenAIFake(FakeServer):
    """Fake OpenAI-compatible upstream; for the `openai` SDK use `base_url=fake.url + "/v1"`."""

    kind = "openai"
    default_models = ("gpt-fake", "deepseek-chat", "mimo-v2-flash")

    def routes(self) -> list[web.AbstractRouteDef]:
        routes: list[web.AbstractRouteDef] = []
        for prefix in ("/v1", ""):
            routes += [
                web.post(f"{prefix}/chat/completions", self.chat_completions),
                web.get(f"{prefix}/models", self.list_models),
            ]
        return routes

    def error_body(self, status: int, error_type: str, message: str) -> bytes:
        code = "rate_limit_exceeded" if status == 429 else None
        return orjson.dumps({"error": {"message": message, "type": error_type, "param": None, "code": code}})

    def base_headers(self) -> dict[str, str]:
        return {"x-request-id": f"req_fake{self.next_id():016d}"}

    def blocks_for(self, behavior: Behavior) -> Sequence[Block]:
        return behavior.content if behavior.content is not None else (Text(f"Hello from {self.name}"),)

    def template(self, model: str, stream: bool, include_usage: bool, behavior: Behavior) -> Template:
        def build() -> Template:
            blocks = self.blocks_for(behavior)
            if stream:
                chunks = stream_chunks(model, blocks, behavior, self.created, include_usage)
                return Template.of([*(data_frame(c) for c in chunks), DONE_FRAME])
            return Template.of([orjson.dumps(completion_json(model, blocks, behavior, self.created))])

        return self.cached_template((model, stream, include_usage), behavior, build)

    async def chat_completions(self, request: web.Request) -> web.StreamResponse:
        raw, body = await self.receive(request)
        if self.validate and (problem := validate_body(body)) is not None:
            return self.error(400, "invalid_request_error", problem)
        behavior = self.next_behavior()
        early = await self.preamble(request, behavior)
        if early is not None:
            return early
        body = body if isinstance(body, dict) else {}
        model = str(body.get("model", ""))
        stream = body.get("stream") is True
        options = body.get("stream_options")
        include_usage = stream and isinstance(options, dict) and options.get("include_usage") is True
        blocks = self.blocks_for(behavior)
        template = self.template(model, stream, include_usage, behavior)
        frames = template.fill(f"fake{self.next_id():020d}", max(1, len(raw) // 4), output_tokens(blocks))
        headers = {**self.base_headers(), **behavior.response_headers()}
        if not stream:
            return await send_body(request, behavior, frames[0], headers, MALFORMED_BODY)
        message = behavior.error_message or "The server is overloaded"
        error = {"error": {"message": message, "type": behavior.resolved_error_type(), "param": None, "code": None}}
        return await send_stream(
            request, behavior, frames, {**SSE_HEADERS, **headers}, MALFORMED_FRAME, data_frame(error)
        )

    async def list_models(self, request: web.Request) -> web.StreamResponse:
        await self.receive(request)
        early = await self.preamble(request, self.default)
        if early is not None:
            return early
        data = [{"id": m, "object": "model", "created": self.created, "owned_by": self.name} for m in self.models]
        body = orjson.dumps({"object": "list", "data": data})
        return web.Response(body=body, headers={"content-type": "application/json", **self.base_headers()})
