"""Metering of native Messages calls: admission before, spend recorded from the answer's ``usage`` after.

A JSON answer is read once for its ``usage``; a stream is watched as it is relayed (``message_start`` carries the
input and cache tokens, each ``message_delta`` the output so far) and recorded when it ends, also when the client
went away mid-stream (then what was seen is recorded). The deployment that answered (``x-gateway-route``) gives the
price (its ``litellm_params`` prices, else LiteLLM's price map for its upstream model).
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Callable, Mapping
from typing import Any

import orjson
from starlette.responses import Response, StreamingResponse

from gateway.keys.pricing import Usage
from gateway.keys.service import KeysService
from gateway.native import ROUTE_HEADER, NativeService
from gateway.routing.config import Deployment

OnUsage = Callable[[dict[str, int]], None]


def _deployment(native: NativeService, route: str | None) -> Deployment | None:
    if not route or "deployment=" not in route:
        return None
    wanted = route.rsplit("deployment=", 1)[1].split(";", 1)[0].strip()
    group = wanted.rsplit("/", 1)[0]
    return next((d for d in native.config.groups.get(group, ()) if d.id == wanted), None)


def _usage_of(event: Mapping[str, Any], seen: dict[str, int]) -> None:
    kind = event.get("type")
    usage: Any = None
    if kind == "message_start":
        message = event.get("message")
        usage = message.get("usage") if isinstance(message, Mapping) else None
    elif kind == "message_delta":
        usage = event.get("usage")
    if isinstance(usage, Mapping):
        for name, value in usage.items():
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                seen[name] = value  # cumulative counts: the latest wins


async def _watched(body: AsyncIterable[Any], on_usage: OnUsage) -> AsyncIterator[Any]:
    seen: dict[str, int] = {}
    try:
        async for chunk in body:
            if isinstance(chunk, bytes) and (b"message_start" in chunk or b"message_delta" in chunk):
                for line in chunk.split(b"\n"):
                    if line.startswith(b"data:") and b'"usage"' in line:
                        try:
                            event = orjson.loads(line[5:])
                        except orjson.JSONDecodeError:
                            continue
                        if isinstance(event, dict):
                            _usage_of(event, seen)
            yield chunk
    finally:
        if seen:
            on_usage(seen)


def watch(response: Response, on_usage: OnUsage) -> Response:
    """``response`` with ``on_usage`` called once with its ``usage`` (successful answers only)."""
    if response.status_code != 200:
        return response
    if isinstance(response, StreamingResponse):
        response.body_iterator = _watched(response.body_iterator, on_usage)
        return response
    try:
        document = orjson.loads(response.body)
    except orjson.JSONDecodeError:
        return response
    usage = document.get("usage") if isinstance(document, dict) else None
    if isinstance(usage, dict):
        on_usage({k: v for k, v in usage.items() if isinstance(v, int) and not isinstance(v, bool)})
    return response


async def metered_messages(
    keys: KeysService,
    native: NativeService,
    identity: Mapping[str, str],
    body: dict[str, Any],
    raw: bytes,
    headers: Mapping[str, str],
    *,
    query: str,
    request_id: str,
) -> Response:
    """``POST /v1/messages`` for ``identity``: admitted by its key's limits, its spend recorded."""
    model = str(body.get("model") or "")
    standing = await keys.admit(identity, model, lambda: native.router.decide(body).group)
    response = await native.messages(body, raw, headers, query=query)
    if standing is not None:
        response.headers.update(standing.headers())
    deployment = _deployment(native, response.headers.get(ROUTE_HEADER))

    def on_usage(usage: dict[str, int]) -> None:
        keys.record(
            identity,
            model,
            Usage.of(usage),
            params=deployment.litellm_params if deployment is not None else None,
            upstream_model=deployment.model if deployment is not None and deployment.model != "*" else None,
            deployment=deployment.id if deployment is not None else None,
            request_id=request_id,
        )

    return watch(response, on_usage)
