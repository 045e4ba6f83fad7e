"""Handlers for `custom.memories.*` operations (see spec/openapi.yaml); semantics: gateway.storage.memory."""

from __future__ import annotations

from typing import Any

from gateway.storage import memory
from gateway.storage.service import store, workspace


async def list(
    memory_store_id: str,
    depth: int | None = None,
    limit: int | None = None,
    page: str | None = None,
    path_prefix: str | None = None,
    view: str | None = None,
    **_: Any,
) -> dict[str, Any]:
    """GET /v1/memory_stores/{memory_store_id}/memories"""
    return await memory.list_memories(
        store(),
        workspace(),
        memory_store_id,
        path_prefix=path_prefix,
        depth=depth,
        limit=limit,
        page_cursor=page,
        view=view,
    )


async def create(memory_store_id: str, body: dict[str, Any], view: str | None = None, **_: Any) -> dict[str, Any]:
    """POST /v1/memory_stores/{memory_store_id}/memories"""
    return await memory.create_memory(store(), workspace(), memory_store_id, body, memory.request_actor(), view)


async def retrieve(memory_store_id: str, memory_id: str, view: str | None = None, **_: Any) -> dict[str, Any]:
    """GET /v1/memory_stores/{memory_store_id}/memories/{memory_id}"""
    return await memory.retrieve_memory(store(), workspace(), memory_store_id, memory_id, view)


async def update(
    memory_store_id: str, memory_id: str, body: dict[str, Any] | None = None, view: str | None = None, **_: Any
) -> dict[str, Any]:
    """POST /v1/memory_stores/{memory_store_id}/memories/{memory_id}"""
    return await memory.update_memory(
        store(), workspace(), memory_store_id, memory_id, body or {}, memory.request_actor(), view
    )


async def delete(
    memory_store_id: str, memory_id: str, expected_content_sha256: str | None = None, **_: Any
) -> dict[str, Any]:
    """DELETE /v1/memory_stores/{memory_store_id}/memories/{memory_id}"""
    return await memory.delete_memory(
        store(), workspace(), memory_store_id, memory_id, expected_content_sha256, memory.request_actor()
    )
