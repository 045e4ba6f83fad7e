"""Native handlers (routing + upstream calls). ``routed`` is their shared path into the router."""

from __future__ import annotations

from typing import Any

from connexion import request
from starlette.responses import Response

from gateway import services
from gateway.keys import metering
from gateway.keys.service import KEYS_STATE, identity_of
from gateway.native import STATE, NativeService
from gateway.request_id import request_id_for


async def routed(body: dict[str, Any], raw: bytes) -> Response:
    """``body`` (whose bytes are ``raw``) through the native router, metered against the caller's key if any."""
    native: NativeService = services.from_request(STATE)
    keys = services.optional_from_request(KEYS_STATE)
    if keys is None:
        return await native.messages(body, raw, request.headers, query=request.url.query)
    return await metering.metered_messages(
        keys,
        native,
        identity_of(),
        body,
        raw,
        request.headers,
        query=request.url.query,
        request_id=request_id_for(request.scope),
    )
