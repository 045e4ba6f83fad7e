"""Handlers for `native.messages.*` operations (see spec/openapi.yaml).

They take no ``body`` argument on purpose: connexion would then consume the request stream, and the fast path
forwards the client's validated bytes unchanged whenever no hygiene rule applies.

Their work is :func:`gateway.fastlane.create_message` and :func:`gateway.fastlane.count_message_tokens`, which the
fast lane calls directly for the requests it takes (``gateway.fastlane``): one implementation for both paths.
"""

from __future__ import annotations

import json

from connexion import request
from starlette.responses import Response

from gateway.fastlane import count_message_tokens, create_message


async def create() -> Response:
    """POST /v1/messages: routed by tier and effort; SSE when ``stream`` is true; metered (gateway.keys)."""
    raw = await request.body()
    return await create_message(request.scope, json.loads(raw), raw, request.headers, request.url.query)


async def count_tokens() -> Response:
    """POST /v1/messages/count_tokens: Anthropic routes pass through, other backends get a local tokenizer count."""
    raw = await request.body()
    return await count_message_tokens(request.scope, json.loads(raw), raw, request.headers, request.url.query)
