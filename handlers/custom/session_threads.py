"""Handlers for `custom.session_threads.*` operations (see spec/openapi.yaml); semantics: gateway.storage.sessions."""

from __future__ import annotations

from typing import Any

from gateway.storage import sessions
from gateway.storage.service import store, workspace


async def list(session_id: str, limit: int | None = None, page: str | None = None, **_: Any) -> dict[str, Any]:
    """GET /v1/sessions/{session_id}/threads"""
    return await sessions.list_threads(store(), workspace(), session_id, limit=limit, page_cursor=page)


async def retrieve(session_id: str, thread_id: str, **_: Any) -> dict[str, Any]:
    """GET /v1/sessions/{session_id}/threads/{thread_id}"""
    return await sessions.retrieve_thread(store(), workspace(), session_id, thread_id)


async def archive(session_id: str, thread_id: str, **_: Any) -> dict[str, Any]:
    """POST /v1/sessions/{session_id}/threads/{thread_id}/archive"""
    return await sessions.archive_thread(store(), workspace(), session_id, thread_id)
