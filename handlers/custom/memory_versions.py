"""Handlers for `custom.memory_versions.*` operations (see spec/openapi.yaml); semantics: gateway.storage.memory."""

from __future__ import annotations

from typing import Any

from gateway.storage import memory
from gateway.storage.service import store, workspace


async def list(
    memory_store_id: str,
    limit: int | None = None,
    page: str | None = None,
    view: str | None = None,
    memory_id: str | None = None,
    operation: str | None = None,
    api_key_id: str | None = None,
    session_id: str | None = None,
    service_account_id: str | None = None,
    created_at_gte: str | None = None,
    created_at_lte: str | None = None,
    **_: Any,
) -> dict[str, Any]:
    """GET /v1/memory_stores/{memory_store_id}/memory_versions"""
    return await memory.list_versions(
        store(),
        workspace(),
        memory_store_id,
        limit=limit,
        page_cursor=page,
        view=view,
        memory_id=memory_id,
        operation=operation,
        api_key_id=api_key_id,
        session_id=session_id,
        service_account_id=service_account_id,
        created_at_gte=created_at_gte,
        created_at_lte=created_at_lte,
    )


async def retrieve(memory_store_id: str, memory_version_id: str, view: str | None = None, **_: Any) -> dict[str, Any]:
    """GET /v1/memory_stores/{memory_store_id}/memory_versions/{memory_version_id}"""
    return await memory.retrieve_version(store(), workspace(), memory_store_id, memory_version_id, view)


async def redact(memory_store_id: str, memory_version_id: str, **_: Any) -> dict[str, Any]:
    """POST /v1/memory_stores/{memory_store_id}/memory_versions/{memory_version_id}/redact"""
    return await memory.redact_version(store(), workspace(), memory_store_id, memory_version_id, memory.request_actor())
