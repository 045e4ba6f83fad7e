"""Dreams (``client.beta.dreams``, research preview): the stored ``dream`` record and its ``BetaDream`` shape.

A dream's work runs as a session (``session_id``); :mod:`gateway.runtime.dreams` starts it and derives ``status``,
``usage``, ``error`` and ``ended_at`` from it, then saves them here with :func:`settle`. ``status`` is kept in the
document so lists filter on it (``statuses[]``); the runtime module refreshes unsettled dreams before a list."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gateway.storage.pagination import page
from gateway.storage.resource import Kind
from gateway.storage.store import Record, Store, rfc3339

KIND = Kind("dream", "dream")
STATUSES = ("pending", "running", "completed", "failed", "canceled")
ENDED = frozenset({"completed", "failed", "canceled"})
ZERO_USAGE = {"cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "input_tokens": 0, "output_tokens": 0}


def response(record: Record) -> dict[str, Any]:
    doc = record.doc
    return {
        "id": record.id,
        "type": "dream",
        "created_at": rfc3339(record.created_at),
        "archived_at": rfc3339(record.archived_at) if record.archived_at else None,
        "ended_at": doc.get("ended_at"),
        "error": doc.get("error"),
        "inputs": doc["inputs"],
        "instructions": doc.get("instructions"),
        "model": doc["model"],
        "output_behavior": doc["output_behavior"],
        "outputs": doc["outputs"],
        "session_id": doc.get("session_id"),
        "status": doc["status"],
        "usage": {**ZERO_USAGE, **(doc.get("usage") or {})},
    }


async def create(store: Store, workspace: str, doc: Mapping[str, Any]) -> Record:
    return await KIND.create(store, workspace, {**doc, "status": "pending", "usage": dict(ZERO_USAGE)})


async def settle(store: Store, workspace: str, dream_id: str, fields: Mapping[str, Any]) -> Record:
    """Save derived fields; a dream that has ended keeps its end (a late refresh cannot reopen it)."""

    def change(current: Record) -> dict[str, Any]:
        if current.doc.get("status") in ENDED and fields.get("status") not in (None, current.doc.get("status")):
            return {**current.doc, "usage": fields.get("usage", current.doc.get("usage"))}
        return {**current.doc, **fields}

    return await KIND.update(store, workspace, dream_id, change, allow_archived=True)


async def unsettled(store: Store, workspace: str) -> list[Record]:
    """Dreams still pending or running (at most 100, newest first)."""
    records, _ = await store.list_resources(
        workspace, KIND.type, limit=100, include_archived=True, predicate=lambda r: r.doc.get("status") not in ENDED
    )
    return records


async def busy_on(store: Store, workspace: str, memory_store_id: str) -> bool:
    """Whether an ``update_existing`` dream on ``memory_store_id`` has not ended."""
    return any(
        r.doc["output_behavior"].get("type") == "update_existing"
        and r.doc["output_behavior"].get("memory_store_id") == memory_store_id
        for r in await unsettled(store, workspace)
    )


async def list_dreams(
    store: Store,
    workspace: str,
    *,
    limit: int | None,
    page_cursor: str | None,
    include_archived: bool,
    statuses: Sequence[str] | None,
    created: Mapping[str, str | None],
) -> dict[str, Any]:
    wanted = {s for s in statuses or () if s in STATUSES} if statuses else None
    records, next_page = await store.list_resources(
        workspace,
        KIND.type,
        limit=limit,
        page=page_cursor,
        include_archived=include_archived,
        created=created,
        predicate=None if wanted is None else (lambda r: r.doc.get("status") in wanted),
    )
    return page([response(r) for r in records], next_page)
