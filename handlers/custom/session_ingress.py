"""Handlers for `custom.session_ingress.*` operations (see spec/openapi.yaml); semantics:
gateway.storage.code_ingress (transcript entries and SDK messages on the code sessions' events)."""

from __future__ import annotations

from typing import Any

import jsonschema_rs
from connexion import request

from gateway import services
from gateway.app import spec_document
from gateway.auth import SETTINGS_STATE
from gateway.planned import planned
from gateway.storage import code_ingress
from gateway.storage.service import store, workspace
from gateway.validation import compiled_validator

ACK: dict[str, Any] = {}
ENTRY_SCHEMA = "ClaudeAiTranscriptEntry"

websocket = planned(
    "custom.session_ingress.websocket",
    "the session-ingress WebSocket transport is not built; --sdk-url sessions can use the v2 POST events endpoint "
    "and the CCR v2 worker protocol (SSE) instead",
)


def _entry_validator() -> jsonschema_rs.Validator:
    """The transcript-entry schema of the app's contract, validated as request bodies are (every PUT entry passed
    it); compiled once per schema object (gateway.validation)."""
    schema = spec_document(services.from_request(SETTINGS_STATE))["components"]["schemas"][ENTRY_SCHEMA]
    return compiled_validator(schema)


async def get_log(session_id: str, after_last_compact: bool = False, **_: Any) -> dict[str, Any]:
    """GET /v1/session_ingress/session/{session_id}: the PUT entries and the CCR v2 worker's internal events of the
    session; a worker's event whose payload is not a transcript entry (the worker protocol takes any SDK message)
    is left out here (the v1 reader expects entries) and stays readable through teleport-events and the worker's
    internal-events read."""
    found = await code_ingress.loglines(store(), workspace(), session_id, after_last_compact=bool(after_last_compact))
    entries = _entry_validator()
    return {"loglines": [entry for entry in found["loglines"] if entries.is_valid(dict(entry))]}


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
