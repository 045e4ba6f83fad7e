"""Handlers for `native.messages.*` operations (see spec/openapi.yaml).

They take no ``body`` argument on purpose: connexion would then consume the request stream, and the fast path
forwards the client's validated bytes unchanged whenever no hygiene rule applies.
"""

from __future__ import annotations

import json

from connexion import request
from starlette.responses import Response

from gateway import services
from gateway.native import STATE, NativeService
from handlers.native import routed


async def create() -> Response:
    """POST /v1/messages: routed by tier and effort; SSE when ``stream`` is true; metered (gateway.keys)."""
    raw = await request.body()
    return await routed(json.loads(raw), raw)


async def count_tokens() -> Response:
    """POST /v1/messages/count_tokens: Anthropic routes pass through, other backends get a local tokenizer count."""
    native: NativeService = services.from_request(STATE)
    raw = await request.body()
    return await native.messages(json.loads(raw), raw, request.headers, query=request.url.query, count_tokens=True)
