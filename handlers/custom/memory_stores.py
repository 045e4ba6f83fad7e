"""Handlers for `custom.memory_stores.*` operations (see spec/openapi.yaml); semantics: gateway.storage.memory."""

from __future__ import annotations

from typing import Any

from gateway.storage import memory
from gateway.storage.service import store, workspace


async def list(
    limit: int | None = None,
    page: str | None = None,
    include_archived: bool = False,
    created_at_gte: str | None = None,
    created_at_lte: str | None = None,
    **_: Any,
) -> dict[str, Any]:
    """GET /v1/memory_stores"""
    return await memory.list_stores(
        store(),
        workspace(),
        limit=limit,
        page_cursor=page,
        include_archived=bool(include_archived),
        created_at_gte=created_at_gte,
        created_at_lte=created_at_lte,
    )


async def create(body: dict[str, Any], **_: Any) -> dict[str, Any]:
    """POST /v1/memory_stores"""
    return await memory.create_store(store(), workspace(), body)


async def retrieve(memory_store_id: str, **_: Any) -> dict[str, Any]:
    """GET /v1/memory_stores/{memory_store_id}"""
    return await memory.retrieve_store(store(), workspace(), memory_store_id)


async def update(memory_store_id: str, body: dict[str, Any] | None = None, **_: Any) -> dict[str, Any]:
    """POST /v1/memory_stores/{memory_store_id}"""
    return await memory.update_store(store(), workspace(), memory_store_id, body or {})


async def archive(memory_store_id: str, **_: Any) -> dict[str, Any]:
    """POST /v1/memory_stores/{memory_store_id}/archive"""
    return await memory.archive_store(store(), workspace(), memory_store_id)


async def delete(memory_store_id: str, **_: Any) -> dict[str, Any]:
    """DELETE /v1/memory_stores/{memory_store_id}"""
    return await memory.delete_store(store(), workspace(), memory_store_id)
