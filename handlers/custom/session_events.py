"""Handlers for `custom.session_events.*` operations (see spec/openapi.yaml); semantics: gateway.storage.sessions.
``stream`` answers ``text/event-stream`` (resumable with ``Last-Event-ID``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.responses import StreamingResponse

from gateway.runtime.service import runtime
from gateway.storage import sessions
from gateway.storage.requests import event_stream
from gateway.storage.service import store, workspace


async def list(
    session_id: str,
    limit: int | None = None,
    page: str | None = None,
    order: str | None = None,
    types: Sequence[str] | None = None,
    created_at_gt: str | None = None,
    created_at_gte: str | None = None,
    created_at_lt: str | None = None,
    created_at_lte: str | None = None,
    **_: Any,
) -> dict[str, Any]:
    """GET /v1/sessions/{session_id}/events"""
    return await sessions.list_events(
        store(),
        workspace(),
        session_id,
        limit=limit,
        page_cursor=page,
        order=order,
        types=types,
        created={"gt": created_at_gt, "gte": created_at_gte, "lt": created_at_lt, "lte": created_at_lte},
    )


async def send(session_id: str, body: dict[str, Any], **_: Any) -> dict[str, Any]:
    """POST /v1/sessions/{session_id}/events"""
    return await runtime().send(workspace(), session_id, body)


async def stream(session_id: str, event_deltas: Sequence[str] | None = None, **_: Any) -> StreamingResponse:
    """GET /v1/sessions/{session_id}/events/stream"""
    return await event_stream(session_id, previews=event_deltas)
