"""Handlers for `custom.session_resources.*` operations (see spec/openapi.yaml); semantics:
gateway.storage.sessions."""

from __future__ import annotations

from typing import Any

from gateway.storage import sessions
from gateway.storage.requests import seal_secret
from gateway.storage.service import store, workspace


async def list(session_id: str, limit: int | None = None, page: str | None = None, **_: Any) -> dict[str, Any]:
    """GET /v1/sessions/{session_id}/resources"""
    return await sessions.list_resources(store(), workspace(), session_id, limit=limit, page_cursor=page)


async def add(session_id: str, body: dict[str, Any], **_: Any) -> dict[str, Any]:
    """POST /v1/sessions/{session_id}/resources"""
    return await sessions.add_resource(store(), workspace(), session_id, body)


async def retrieve(session_id: str, resource_id: str, **_: Any) -> dict[str, Any]:
    """GET /v1/sessions/{session_id}/resources/{resource_id}"""
    return await sessions.retrieve_resource(store(), workspace(), session_id, resource_id)


async def update(session_id: str, resource_id: str, body: dict[str, Any], **_: Any) -> dict[str, Any]:
    """POST /v1/sessions/{session_id}/resources/{resource_id}"""
    return await sessions.update_resource(store(), workspace(), session_id, resource_id, body, seal=seal_secret)


async def delete(session_id: str, resource_id: str, **_: Any) -> dict[str, Any]:
    """DELETE /v1/sessions/{session_id}/resources/{resource_id}"""
    return await sessions.delete_resource(store(), workspace(), session_id, resource_id)
