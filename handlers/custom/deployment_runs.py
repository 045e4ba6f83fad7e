"""Handlers for `custom.deployment_runs.*` (see spec/openapi.yaml); semantics: gateway.storage.deployments."""

from __future__ import annotations

from typing import Any

from gateway.storage import deployments
from gateway.storage.service import store, workspace


async def list(
    limit: int | None = None,
    page: str | None = None,
    deployment_id: str | None = None,
    has_error: bool | None = None,
    trigger_type: str | None = None,
    created_at_gt: str | None = None,
    created_at_gte: str | None = None,
    created_at_lt: str | None = None,
    created_at_lte: str | None = None,
    **_: Any,
) -> dict[str, Any]:
    """GET /v1/deployment_runs"""
    return await deployments.list_runs(
        store(),
        workspace(),
        limit=limit,
        page_cursor=page,
        deployment_id=deployment_id,
        has_error=has_error,
        trigger_type=trigger_type,
        created={"gt": created_at_gt, "gte": created_at_gte, "lt": created_at_lt, "lte": created_at_lte},
    )


async def retrieve(deployment_run_id: str, **_: Any) -> dict[str, Any]:
    """GET /v1/deployment_runs/{deployment_run_id}"""
    return await deployments.retrieve_run(store(), workspace(), deployment_run_id)
