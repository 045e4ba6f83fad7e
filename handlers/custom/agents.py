"""Handlers for `custom.agents.*` operations (see spec/openapi.yaml); the semantics live in gateway.storage.agents."""

from __future__ import annotations

from typing import Any

from gateway.storage import agents
from gateway.storage.service import store, workspace


async def list(
    limit: int | None = None,
    page: str | None = None,
    include_archived: bool = False,
    created_at_gte: str | None = None,
    created_at_lte: str | None = None,
    **_: Any,
) -> dict[str, Any]:
    """GET /v1/agents"""
    return await agents.list_agents(
        store(),
        workspace(),
        limit=limit,
        page_cursor=page,
        include_archived=bool(include_archived),
        created_at_gte=created_at_gte,
        created_at_lte=created_at_lte,
    )


async def retrieve(agent_id: str, version: int | None = None, **_: Any) -> dict[str, Any]:
    """GET /v1/agents/{agent_id}"""
    return await agents.retrieve(store(), workspace(), agent_id, version)


async def create(body: dict[str, Any], **_: Any) -> dict[str, Any]:
    """POST /v1/agents"""
    return await agents.create(store(), workspace(), body)


async def update(agent_id: str, body: dict[str, Any] | None = None, **_: Any) -> dict[str, Any]:
    """POST /v1/agents/{agent_id}"""
    return await agents.update(store(), workspace(), agent_id, body or {})


async def archive(agent_id: str, **_: Any) -> dict[str, Any]:
    """POST /v1/agents/{agent_id}/archive"""
    return await agents.archive(store(), workspace(), agent_id)
