"""Handlers for `custom.sessions.*` operations (see spec/openapi.yaml); semantics: gateway.storage.sessions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gateway.keys.service import identity_of
from gateway.runtime.service import runtime
from gateway.storage import sessions
from gateway.storage.requests import seal_secret
from gateway.storage.service import store, workspace


async def list(
    limit: int | None = None,
    page: str | None = None,
    order: str | None = None,
    include_archived: bool = False,
    agent_id: str | None = None,
    agent_version: int | None = None,
    deployment_id: str | None = None,
    memory_store_id: str | None = None,
    statuses: Sequence[str] | None = None,
    created_at_gt: str | None = None,
    created_at_gte: str | None = None,
    created_at_lt: str | None = None,
    created_at_lte: str | None = None,
    **_: Any,
) -> dict[str, Any]:
    """GET /v1/sessions"""
    return await sessions.list_sessions(
        store(),
        workspace(),
        limit=limit,
        page_cursor=page,
        order=order,
        include_archived=bool(include_archived),
        agent_id=agent_id,
        agent_version=agent_version,
        deployment_id=deployment_id,
        memory_store_id=memory_store_id,
        statuses=statuses,
        created={"gt": created_at_gt, "gte": created_at_gte, "lt": created_at_lt, "lte": created_at_lte},
    )


async def create(body: dict[str, Any], **_: Any) -> dict[str, Any]:
    """POST /v1/sessions"""
    session = await sessions.create(store(), workspace(), body, seal=seal_secret, identity=identity_of())
    await runtime().created(workspace(), session, initial_events=bool(body.get("initial_events")))
    return session


async def retrieve(session_id: str, **_: Any) -> dict[str, Any]:
    """GET /v1/sessions/{session_id}"""
    return await sessions.retrieve(store(), workspace(), session_id)


async def update(session_id: str, body: dict[str, Any] | None = None, **_: Any) -> dict[str, Any]:
    """POST /v1/sessions/{session_id}"""
    return await sessions.update(store(), workspace(), session_id, body or {})


async def archive(session_id: str, **_: Any) -> dict[str, Any]:
    """POST /v1/sessions/{session_id}/archive"""
    await sessions.archive(store(), workspace(), session_id)
    await runtime().closed(workspace(), await sessions.KIND.get(store(), workspace(), session_id), deleted=False)
    return await sessions.retrieve(store(), workspace(), session_id)


async def delete(session_id: str, **_: Any) -> dict[str, Any]:
    """DELETE /v1/sessions/{session_id}"""
    record = await sessions.KIND.get(store(), workspace(), session_id)
    deleted = await sessions.delete(store(), workspace(), session_id)
    await runtime().closed(workspace(), record, deleted=True)
    return deleted
