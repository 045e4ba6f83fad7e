"""Handlers for `custom.session_ingress.*` operations (see spec/openapi.yaml); semantics:
gateway.storage.code_ingress (transcript entries and SDK messages on the code sessions' events)."""

from __future__ import annotations

from typing import Any

from connexion import request

from gateway.planned import planned
from gateway.storage import code_ingress
from gateway.storage.service import store, workspace

ACK: dict[str, Any] = {}

websocket = planned(
    "custom.session_ingress.websocket",
    "the session-ingress WebSocket transport is not built; --sdk-url sessions can use the v2 POST events endpoint "
    "and the CCR v2 worker protocol (SSE) instead",
)


async def get_log(session_id: str, after_last_compact: bool = False, **_: Any) -> dict[str, Any]:
    """GET /v1/session_ingress/session/{session_id}"""
    return await code_ingress.loglines(store(), workspace(), session_id, after_last_compact=bool(after_last_compact))


async def append_log(session_id: str, body: dict[str, Any], **_: Any) -> dict[str, Any]:
    """PUT /v1/session_ingress/session/{session_id} (``Last-Uuid``: optimistic concurrency, 409 + x-last-uuid)"""
    last_uuid = request.headers.get("last-uuid")
    await code_ingress.append_entry(store(), workspace(), session_id, body, last_uuid)
    return ACK


async def send_events(session_id: str, body: dict[str, Any], **_: Any) -> dict[str, Any]:
    """POST /v2/session_ingress/session/{session_id}/events"""
    await code_ingress.send_events(store(), workspace(), session_id, body.get("events") or [])
    return ACK


async def list_teleport_events(
    session_id: str, limit: int = 500, cursor: str | None = None, **_: Any
) -> dict[str, Any]:
    """GET /v1/code/sessions/{session_id}/teleport-events"""
    return await code_ingress.teleport_page(store(), workspace(), session_id, limit=limit, cursor=cursor)
