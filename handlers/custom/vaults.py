"""Handlers for `custom.vaults.*` operations (see spec/openapi.yaml); semantics: gateway.storage.vaults."""

from __future__ import annotations

from typing import Any

from gateway.storage import vaults
from gateway.storage.service import store, workspace


async def list(
    limit: int | None = None, page: str | None = None, include_archived: bool = False, **_: Any
) -> dict[str, Any]:
    """GET /v1/vaults"""
    return await vaults.list_vaults(
        store(), workspace(), limit=limit, page_cursor=page, include_archived=bool(include_archived)
    )


async def retrieve(vault_id: str, **_: Any) -> dict[str, Any]:
    """GET /v1/vaults/{vault_id}"""
    return await vaults.retrieve_vault(store(), workspace(), vault_id)


async def create(body: dict[str, Any], **_: Any) -> dict[str, Any]:
    """POST /v1/vaults"""
    return await vaults.create_vault(store(), workspace(), body)


async def update(vault_id: str, body: dict[str, Any] | None = None, **_: Any) -> dict[str, Any]:
    """POST /v1/vaults/{vault_id}"""
    return await vaults.update_vault(store(), workspace(), vault_id, body or {})


async def archive(vault_id: str, **_: Any) -> dict[str, Any]:
    """POST /v1/vaults/{vault_id}/archive"""
    return await vaults.archive_vault(store(), workspace(), vault_id)


async def delete(vault_id: str, **_: Any) -> dict[str, Any]:
    """DELETE /v1/vaults/{vault_id} (its credentials go with it)"""
    return await vaults.delete_vault(store(), workspace(), vault_id)
