"""The token a session presents to one MCP server: from the session's vaults (``vault_ids``, in order), the newest
live credential whose ``auth.mcp_server_url`` is the server's URL (compared without a trailing ``/``):
``static_bearer`` → its ``token``, ``mcp_oauth`` → its ``access_token``. Archived vaults and credentials do not
count; ``environment_variable`` credentials are not MCP credentials.

The plaintext exists only in memory, between this lookup and the ``Authorization`` header of the requests; it is
never stored in an event and never logged. An ``mcp_oauth`` token past its ``expires_at`` is still sent (the server
decides); refreshing it with the refresh token is not done here (see the issue-11 notes)."""

from __future__ import annotations

from collections.abc import Sequence

from gateway.storage import vaults
from gateway.storage.config import StorageConfig
from gateway.storage.store import Record, Store

SECRET_OF = {"static_bearer": "token", "mcp_oauth": "access_token"}


def same_url(a: str, b: str) -> bool:
    return a.strip().rstrip("/") == b.strip().rstrip("/")


async def token_for(
    store: Store, config: StorageConfig, workspace: str, vault_ids: Sequence[str], url: str
) -> str | None:
    def matches(record: Record) -> bool:
        auth = record.doc.get("auth") or {}
        return auth.get("type") in SECRET_OF and same_url(str(auth.get("mcp_server_url", "")), url)

    for vault_id in vault_ids:
        vault = await store.get(workspace, vaults.VAULT.type, vault_id)
        if vault is None or vault.archived_at is not None:
            continue
        found, _next = await store.list_resources(
            workspace, vaults.CREDENTIAL.type, parent_id=vault_id, predicate=matches, limit=1
        )
        if found:
            secret = SECRET_OF[str(found[0].doc["auth"]["type"])]
            return vaults.stored_secret(config, found[0], secret)
    return None
