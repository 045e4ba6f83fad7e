"""Native handlers (routing + upstream calls). ``routed`` is their shared path into the router."""

from __future__ import annotations

from typing import Any

from connexion import request
from starlette.responses import Response

from gateway.fastlane import create_message


async def routed(body: dict[str, Any], raw: bytes) -> Response:
    """``body`` (whose bytes are ``raw``) through the native router, metered against the caller's key if any."""
    return await create_message(request.scope, body, raw, request.headers, request.url.query)
