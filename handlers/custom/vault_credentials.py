"""Handlers for `custom.vault_credentials.*` operations (see spec/openapi.yaml); semantics: gateway.storage.vaults.
Secrets in request bodies are encrypted at rest and never returned."""

from __future__ import annotations

from typing import Any

from gateway.storage import vaults
from gateway.storage.service import storage_config, store, workspace


async def list(
    vault_id: str, limit: int | None = None, page: str | None = None, include_archived: bool = False, **_: Any
) -> dict[str, Any]:
    """GET /v1/vaults/{vault_id}/credentials"""
    return await vaults.list_credentials(
        store(), workspace(), vault_id, limit=limit, page_cursor=page, include_archived=bool(include_archived)
    )


async def retrieve(vault_id: str, credential_id: str, **_: Any) -> dict[str, Any]:
    """GET /v1/vaults/{vault_id}/credentials/{credential_id}"""
    return await vaults.retrieve_credential(store(), workspace(), vault_id, credential_id)


async def create(vault_id: str, body: dict[str, Any], **_: Any) -> dict[str, Any]:
    """POST /v1/vaults/{vault_id}/credentials"""
    return await vaults.create_credential(store(), storage_config(), workspace(), vault_id, body)


async def update(vault_id: str, credential_id: str, body: dict[str, Any] | None = None, **_: Any) -> dict[str, Any]:
    """POST /v1/vaults/{vault_id}/credentials/{credential_id}"""
    return await vaults.update_credential(store(), storage_config(), workspace(), vault_id, credential_id, body or {})


async def archive(vault_id: str, credential_id: str, **_: Any) -> dict[str, Any]:
    """POST /v1/vaults/{vault_id}/credentials/{credential_id}/archive"""
    return await vaults.archive_credential(store(), workspace(), vault_id, credential_id)


async def delete(vault_id: str, credential_id: str, **_: Any) -> dict[str, Any]:
    """DELETE /v1/vaults/{vault_id}/credentials/{credential_id}"""
    return await vaults.delete_credential(store(), workspace(), vault_id, credential_id)


async def mcp_oauth_validate(vault_id: str, credential_id: str, **_: Any) -> dict[str, Any]:
    """POST /v1/vaults/{vault_id}/credentials/{credential_id}/mcp_oauth_validate (local checks only, no probe)"""
    return await vaults.validate_mcp_oauth(store(), storage_config(), workspace(), vault_id, credential_id)
