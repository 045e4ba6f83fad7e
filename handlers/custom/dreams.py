"""Handlers for `custom.dreams.*` operations (see spec/openapi.yaml); semantics: gateway.runtime.dreams (the dream's
session) and gateway.storage.dreams (the stored record)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gateway.runtime import dreams as runner
from gateway.storage import dreams
from gateway.storage.service import store, workspace


async def list(
    limit: int | None = None,
    page: str | None = None,
    include_archived: bool = False,
    statuses: Sequence[str] | None = None,
    created_at_gt: str | None = None,
    created_at_lt: str | None = None,
    **_: Any,
) -> dict[str, Any]:
    """GET /v1/dreams"""
    await runner.refresh_all(store(), workspace())
    return await dreams.list_dreams(
        store(),
        workspace(),
        limit=limit,
        page_cursor=page,
        include_archived=bool(include_archived),
        statuses=statuses,
        created={"gt": created_at_gt, "lt": created_at_lt},
    )


async def create(body: dict[str, Any], **_: Any) -> dict[str, Any]:
    """POST /v1/dreams"""
    return await runner.create(store(), workspace(), body)


async def retrieve(dream_id: str, **_: Any) -> dict[str, Any]:
    """GET /v1/dreams/{dream_id}"""
    return await runner.refresh(store(), workspace(), dream_id)


async def archive(dream_id: str, **_: Any) -> dict[str, Any]:
    """POST /v1/dreams/{dream_id}/archive"""
    await dreams.KIND.archive(store(), workspace(), dream_id)
    return await runner.refresh(store(), workspace(), dream_id)


async def cancel(dream_id: str, **_: Any) -> dict[str, Any]:
    """POST /v1/dreams/{dream_id}/cancel"""
    return await runner.cancel(store(), workspace(), dream_id)
