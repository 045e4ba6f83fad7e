"""Handler for `proxy.voice.stream` over plain HTTP: the endpoint is a WebSocket (see gateway.proxy.websocket)."""

from __future__ import annotations

from typing import NoReturn

from gateway.errors import GatewayError


class UpgradeRequired(GatewayError):
    status = 426
    error_type = "invalid_request_error"


async def stream() -> NoReturn:
    """GET /api/ws/speech_to_text/voice_stream without an Upgrade: 426 (the WebSocket relay serves the upgrade)."""
    raise UpgradeRequired(
        "this endpoint is a WebSocket: connect with an Upgrade: websocket request",
        headers={"Upgrade": "websocket"},
    )
