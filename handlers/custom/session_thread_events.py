"""Handlers for `custom.session_thread_events.*` operations (see spec/openapi.yaml); semantics:
gateway.storage.sessions (events of one thread; the stream is SSE, resumable with ``Last-Event-ID``)."""

from __future__ import annotations

from typing import Any

from starlette.responses import StreamingResponse

from gateway.storage import sessions
from gateway.storage.requests import event_stream
from gateway.storage.service import store, workspace


async def list(
    session_id: str, thread_id: str, limit: int | None = None, page: str | None = None, **_: Any
) -> dict[str, Any]:
    """GET /v1/sessions/{session_id}/threads/{thread_id}/events"""
    return await sessions.list_events(
        store(), workspace(), session_id, limit=limit, page_cursor=page, thread_id=thread_id
    )


async def stream(session_id: str, thread_id: str, **_: Any) -> StreamingResponse:
    """GET /v1/sessions/{session_id}/threads/{thread_id}/stream"""
    return await event_stream(session_id, thread_id)
