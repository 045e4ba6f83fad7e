"""Environments (``/v1/environments``): cloud or self-hosted container templates. Archive makes one read-only and
hides it from lists (unless ``include_archived``); delete removes it (``{id, type: "environment_deleted"}``).
Responses carry the full ``BetaEnvironment`` config (cloud: ``networking`` and all six package lists)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.errors import Conflict
from gateway.storage.pagination import page
from gateway.storage.resource import Kind, body_fields, patch_metadata, timestamps
from gateway.storage.store import Record, Store

KIND = Kind("environment", "env")
PACKAGE_MANAGERS = ("apt", "cargo", "gem", "go", "npm", "pip")


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
    """The environment (without private ``_`` keys, e.g. a bridge environment's ``_bridge``)."""
    return {**{k: v for k, v in record.doc.items() if not k.startswith("_")}, **timestamps(record)}


async def _name_is_free(store: Store, workspace: str, name: Any, own_id: str | None = None) -> None:
    """Names are unique among a workspace's environments that are not archived (Anthropic: duplicate -> 409).
    Checked in code, not by a unique index: two concurrent creates with one name can both succeed."""
    if not isinstance(name, str):
        return
    taken, _ = await store.list_resources(
        workspace, KIND.type, limit=1, predicate=lambda r: r.doc.get("name") == name and r.id != own_id
    )
    if taken:
        raise Conflict(f"name: an environment named {name!r} already exists ({taken[0].id})")


async def create(store: Store, workspace: str, body: Mapping[str, Any]) -> dict[str, Any]:
    await _name_is_free(store, workspace, body.get("name"))
    doc = body_fields(body)
    doc["config"] = config(doc.get("config"))
    doc["metadata"] = dict(doc.get("metadata") or {})
    doc.setdefault("description", None)
    doc.setdefault("scope", None)
    return response(await KIND.create(store, workspace, doc))


async def retrieve(store: Store, workspace: str, environment_id: str) -> dict[str, Any]:
    return response(await KIND.get(store, workspace, environment_id))


async def update(store: Store, workspace: str, environment_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
    await _name_is_free(store, workspace, body.get("name"), environment_id)

    def change(record: Record) -> dict[str, Any]:
        doc = dict(record.doc)
        for key, value in body_fields(body).items():
            if key == "metadata":
                doc["metadata"] = patch_metadata(doc.get("metadata"), value)
            elif key == "config":
                if value is not None:
                    doc["config"] = config(value)
            elif key in ("name", "scope"):
                if value is not None:
                    doc[key] = value
            else:
                doc[key] = value
        return doc

    return response(await KIND.update(store, workspace, environment_id, change))


async def archive(store: Store, workspace: str, environment_id: str) -> dict[str, Any]:
    return response(await KIND.archive(store, workspace, environment_id))


async def delete(store: Store, workspace: str, environment_id: str) -> dict[str, Any]:
    from gateway.storage import environment_work  # (it imports this module for KIND)

    deleted = await KIND.delete(store, workspace, environment_id)
    await environment_work.purge(store, workspace, environment_id)
    return deleted


async def list_environments(
    store: Store, workspace: str, *, limit: int | None, page_cursor: str | None, include_archived: bool
) -> dict[str, Any]:
    records, next_page = await store.list_resources(
        workspace, KIND.type, limit=limit, page=page_cursor, include_archived=include_archived
    )
    return page([response(r) for r in records], next_page)
