"""Handlers for `custom.environments.*` operations (see spec/openapi.yaml); semantics: gateway.storage.environments."""

from __future__ import annotations

from typing import Any

from gateway.storage import environments
from gateway.storage.service import store, workspace


async def list(
    limit: int | None = None, page: str | None = None, include_archived: bool = False, **_: Any
) -> dict[str, Any]:
    """GET /v1/environments"""
    return await environments.list_environments(
        store(), workspace(), limit=limit, page_cursor=page, include_archived=bool(include_archived)
    )


async def retrieve(environment_id: str, **_: Any) -> dict[str, Any]:
    """GET /v1/environments/{environment_id}"""
    return await environments.retrieve(store(), workspace(), environment_id)


async def create(body: dict[str, Any], **_: Any) -> dict[str, Any]:
    """POST /v1/environments"""
    return await environments.create(store(), workspace(), body)


async def update(environment_id: str, body: dict[str, Any] | None = None, **_: Any) -> dict[str, Any]:
    """POST /v1/environments/{environment_id}"""
    return await environments.update(store(), workspace(), environment_id, body or {})


async def archive(environment_id: str, **_: Any) -> dict[str, Any]:
    """POST /v1/environments/{environment_id}/archive"""
    return await environments.archive(store(), workspace(), environment_id)


async def delete(environment_id: str, **_: Any) -> dict[str, Any]:
    """DELETE /v1/environments/{environment_id}"""
    return await environments.delete(store(), workspace(), environment_id)
