"""Handlers for `custom.deployments.*` operations (see spec/openapi.yaml); semantics: gateway.storage.deployments."""

from __future__ import annotations

from typing import Any

from gateway import services
from gateway.scheduler import RUNTIME_STATE, session_starter
from gateway.storage import deployments
from gateway.storage.service import store, workspace


async def list(
    limit: int | None = None,
    page: str | None = None,
    include_archived: bool = False,
    agent_id: str | None = None,
    status: str | None = None,
    created_at_gte: str | None = None,
    created_at_lte: str | None = None,
    **_: Any,
) -> dict[str, Any]:
    """GET /v1/deployments"""
    return await deployments.list_deployments(
        store(),
        workspace(),
        limit=limit,
        page_cursor=page,
        include_archived=bool(include_archived),
        agent_id=agent_id,
        status=status,
        created_at_gte=created_at_gte,
        created_at_lte=created_at_lte,
    )


async def create(body: dict[str, Any], **_: Any) -> dict[str, Any]:
    """POST /v1/deployments"""
    return await deployments.create(store(), workspace(), body)


async def retrieve(deployment_id: str, **_: Any) -> dict[str, Any]:
    """GET /v1/deployments/{deployment_id}"""
    return await deployments.retrieve(store(), workspace(), deployment_id)


async def update(deployment_id: str, body: dict[str, Any] | None = None, **_: Any) -> dict[str, Any]:
    """POST /v1/deployments/{deployment_id}"""
    return await deployments.update(store(), workspace(), deployment_id, body or {})


async def archive(deployment_id: str, **_: Any) -> dict[str, Any]:
    """POST /v1/deployments/{deployment_id}/archive"""
    return await deployments.archive(store(), workspace(), deployment_id)


async def pause(deployment_id: str, **_: Any) -> dict[str, Any]:
    """POST /v1/deployments/{deployment_id}/pause"""
    return await deployments.pause(store(), workspace(), deployment_id)


async def unpause(deployment_id: str, **_: Any) -> dict[str, Any]:
    """POST /v1/deployments/{deployment_id}/unpause"""
    return await deployments.unpause(store(), workspace(), deployment_id)


async def run(deployment_id: str, **_: Any) -> dict[str, Any]:
    """POST /v1/deployments/{deployment_id}/run"""
    start_session = session_starter(services.optional_from_request(RUNTIME_STATE))
    return await deployments.run(store(), workspace(), deployment_id, start_session=start_session)
