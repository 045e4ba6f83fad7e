"""Handlers for `custom.environment_work.*` operations (see spec/openapi.yaml); semantics:
gateway.storage.environment_work."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from gateway.runtime.service import runtime
from gateway.storage import environment_work
from gateway.storage.service import storage_config, store, workspace


async def list(environment_id: str, limit: int | None = None, page: str | None = None, **_: Any) -> dict[str, Any]:
    """GET /v1/environments/{environment_id}/work"""
    return await environment_work.list_work(store(), workspace(), environment_id, limit=limit, page_cursor=page)


async def poll(
    environment_id: str, block_ms: int | None = None, reclaim_older_than_ms: int | None = None, **_: Any
) -> dict[str, Any] | Response:
    """GET /v1/environments/{environment_id}/work/poll (JSON null when nothing is available)"""
    from connexion import request

    item = await environment_work.poll(
        store(),
        workspace(),
        environment_id,
        block_ms=block_ms,
        reclaim_older_than_ms=reclaim_older_than_ms,
        worker_id=request.headers.get("anthropic-worker-id"),
        base_url=str(request.base_url).rstrip("/"),
    )
    if item is None:
        return Response(content=b"null", media_type="application/json")
    return item


async def stats(environment_id: str, **_: Any) -> dict[str, Any]:
    """GET /v1/environments/{environment_id}/work/stats"""
    return await environment_work.stats(store(), workspace(), environment_id)


async def retrieve(environment_id: str, work_id: str, **_: Any) -> dict[str, Any]:
    """GET /v1/environments/{environment_id}/work/{work_id}"""
    return await environment_work.retrieve(store(), workspace(), environment_id, work_id)


async def update(environment_id: str, work_id: str, body: dict[str, Any] | None = None, **_: Any) -> dict[str, Any]:
    """POST /v1/environments/{environment_id}/work/{work_id}"""
    return await environment_work.update(store(), workspace(), environment_id, work_id, body or {})


async def ack(environment_id: str, work_id: str, **_: Any) -> dict[str, Any]:
    """POST /v1/environments/{environment_id}/work/{work_id}/ack"""
    return await environment_work.ack(
        store(), workspace(), environment_id, work_id, ttl_seconds=storage_config().work_ttl_seconds
    )


async def heartbeat(
    environment_id: str,
    work_id: str,
    desired_ttl_seconds: int | None = None,
    expected_last_heartbeat: str | None = None,
    **_: Any,
) -> dict[str, Any]:
    """POST /v1/environments/{environment_id}/work/{work_id}/heartbeat"""
    return await environment_work.heartbeat(
        store(),
        workspace(),
        environment_id,
        work_id,
        desired_ttl_seconds=desired_ttl_seconds,
        expected_last_heartbeat=expected_last_heartbeat,
        default_ttl_seconds=storage_config().work_ttl_seconds,
    )


async def stop(environment_id: str, work_id: str, body: dict[str, Any] | None = None, **_: Any) -> dict[str, Any]:
    """POST /v1/environments/{environment_id}/work/{work_id}/stop"""
    force = bool((body or {}).get("force"))
    item = await environment_work.stop(store(), workspace(), environment_id, work_id, force=force)
    await runtime().work_stopped(workspace(), item)
    return item
