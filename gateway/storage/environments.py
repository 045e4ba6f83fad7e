"""Environments (``/v1/environments``): cloud or self-hosted container templates. Archive makes one read-only and
hides it from lists (unless ``include_archived``); delete removes it (``{id, type: "environment_deleted"}``).
Responses carry the full ``BetaEnvironment`` config (cloud: ``networking`` and all six package lists)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.errors import InvalidRequest, NotFound
from gateway.storage.pagination import page
from gateway.storage.store import Record, Store, new_id, rfc3339

TYPE = "environment"
PACKAGE_MANAGERS = ("apt", "cargo", "gem", "go", "npm", "pip")


def not_found(environment_id: str) -> NotFound:
    return NotFound(f"environment {environment_id!r} not found")


def _networking(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        return {"type": "unrestricted"}
    out = dict(value)
    if out.get("type") == "limited":
        out["allowed_hosts"] = list(out.get("allowed_hosts") or [])
        out["allow_mcp_servers"] = bool(out.get("allow_mcp_servers") or False)
        out["allow_package_managers"] = bool(out.get("allow_package_managers") or False)
    return out


def _packages(value: Any) -> dict[str, Any]:
    out = dict(value) if isinstance(value, Mapping) else {}
    for manager in PACKAGE_MANAGERS:
        out[manager] = list(out.get(manager) or [])
    out["type"] = "packages"
    return out


def config(value: Any) -> dict[str, Any]:
    """A create/update ``config`` as stored and returned (None: a cloud environment with defaults)."""
    if isinstance(value, Mapping) and value.get("type") == "self_hosted":
        return dict(value)
    source = value if isinstance(value, Mapping) else {}
    return {
        **source,
        "type": "cloud",
        "networking": _networking(source.get("networking")),
        "packages": _packages(source.get("packages")),
    }


def response(record: Record) -> dict[str, Any]:
    return {
        **record.doc,
        "id": record.id,
        "type": "environment",
        "created_at": rfc3339(record.created_at),
        "updated_at": rfc3339(record.updated_at),
        "archived_at": rfc3339(record.archived_at),
    }


async def create(store: Store, workspace: str, body: Mapping[str, Any]) -> dict[str, Any]:
    doc = {k: v for k, v in body.items() if k not in ("id", "type", "created_at", "updated_at", "archived_at")}
    doc["config"] = config(doc.get("config"))
    doc["metadata"] = dict(doc.get("metadata") or {})
    doc.setdefault("description", None)
    doc.setdefault("scope", None)
    record = await store.create(workspace, TYPE, new_id("env"), doc)
    return response(record)


async def retrieve(store: Store, workspace: str, environment_id: str) -> dict[str, Any]:
    record = await store.get(workspace, TYPE, environment_id)
    if record is None:
        raise not_found(environment_id)
    return response(record)


async def update(store: Store, workspace: str, environment_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
    async def mutate(record: Record) -> dict[str, Any]:
        if record.archived_at is not None:
            raise InvalidRequest(f"environment {environment_id!r} is archived and cannot be updated")
        doc = dict(record.doc)
        for key, value in body.items():
            if key in ("id", "type", "created_at", "updated_at", "archived_at"):
                continue
            if key == "metadata":
                metadata = dict(doc.get("metadata") or {})
                for mkey, mvalue in (value or {}).items():
                    if mvalue is None or mvalue == "":
                        metadata.pop(mkey, None)
                    else:
                        metadata[mkey] = mvalue
                doc["metadata"] = metadata
            elif key == "config":
                if value is not None:
                    doc["config"] = config(value)
            elif key in ("name", "scope"):
                if value is not None:
                    doc[key] = value
            else:
                doc[key] = value
        return doc

    record = await store.update(workspace, TYPE, environment_id, mutate)
    if record is None:
        raise not_found(environment_id)
    return response(record)


async def archive(store: Store, workspace: str, environment_id: str) -> dict[str, Any]:
    record = await store.archive(workspace, TYPE, environment_id)
    if record is None:
        raise not_found(environment_id)
    return response(record)


async def delete(store: Store, workspace: str, environment_id: str) -> dict[str, Any]:
    if not await store.delete(workspace, TYPE, environment_id):
        raise not_found(environment_id)
    return {"id": environment_id, "type": "environment_deleted"}


async def list_environments(
    store: Store, workspace: str, *, limit: int | None, page_cursor: str | None, include_archived: bool
) -> dict[str, Any]:
    records, next_page = await store.list_resources(
        workspace, TYPE, limit=limit, page=page_cursor, include_archived=include_archived
    )
    return page([response(r) for r in records], next_page)
