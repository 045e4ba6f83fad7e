"""Handlers for `custom.agent_versions.*` operations (see spec/openapi.yaml)."""

from __future__ import annotations

from typing import Any

from gateway.storage import agents
from gateway.storage.service import store, workspace


async def list(agent_id: str, limit: int | None = None, page: str | None = None, **_: Any) -> dict[str, Any]:
    """GET /v1/agents/{agent_id}/versions"""
    return await agents.list_versions(store(), workspace(), agent_id, limit=limit, page_cursor=page)
