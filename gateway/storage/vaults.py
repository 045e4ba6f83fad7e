"""Vaults (``/v1/vaults``) and their credentials (``/v1/vaults/{vault_id}/credentials``).

A credential's secrets (``access_token``, ``refresh.refresh_token``, ``token_endpoint_auth.client_secret``,
``token``, ``secret_value``) are write-only: each is stored as its own Fernet token under the document's ``secrets``
key (:mod:`gateway.storage.secrets`) and never leaves this module in a response; the response ``auth`` is the SDK's
``*AuthResponse`` shape, built from the non-secret fields only. Updates: an omitted or ``null`` secret keeps the
stored one, a new value is encrypted afresh; ``mcp_server_url`` / ``secret_name`` / the auth ``type`` are immutable.

Archive (vault or credential) keeps the record, makes it read-only (updates: 400) and hides it from lists unless
``include_archived``. An archived vault takes no new credentials and its credentials cannot be updated. Delete
removes the record (a vault: together with all of its credentials): 404 afterwards.

``mcp_oauth_validate`` makes no network call (only the runtime's MCP toolsets reach MCP servers): it checks what can
be checked locally - the credential is a live ``mcp_oauth`` credential of this vault, its access token decrypts, and
whether ``expires_at`` has passed - and answers ``invalid`` when the token has expired with no refresh token, otherwise
``unknown`` (``valid`` would need a live probe). ``mcp_probe`` and ``refresh`` stay null: no probe or refresh
exchange was attempted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.errors import InvalidRequest
from gateway.storage import secrets
from gateway.storage.config import StorageConfig
from gateway.storage.pagination import page
from gateway.storage.resource import Kind, body_fields, patch_metadata, timestamps
from gateway.storage.store import Record, Store, parse_rfc3339, rfc3339, utcnow

VAULT = Kind("vault", "vlt")
CREDENTIAL = Kind("vault_credential", "vcrd", label="credential")
SECRETS = "secrets"  # the document key holding the encrypted secret fields
DEFAULT_INJECTION = {"header": True, "body": False}


# --- vaults ---------------------------------------------------------------------------------------------------------
def vault_response(record: Record) -> dict[str, Any]:
    return {"display_name": record.doc.get("display_name", ""), "metadata": dict(record.doc.get("metadata") or {})} | (
        timestamps(record)
    )


async def create_vault(store: Store, workspace: str, body: Mapping[str, Any]) -> dict[str, Any]:
    doc = {"display_name": body.get("display_name", ""), "metadata": dict(body.get("metadata") or {})}
    return vault_response(await VAULT.create(store, workspace, doc))


async def retrieve_vault(store: Store, workspace: str, vault_id: str) -> dict[str, Any]:
    return vault_response(await VAULT.get(store, workspace, vault_id))


async def update_vault(store: Store, workspace: str, vault_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
    def change(record: Record) -> dict[str, Any]:
        doc = dict(record.doc)
        if body.get("display_name") is not None:  # null keeps the name (a vault always has one)
            doc["display_name"] = body["display_name"]
        if "metadata" in body:
            doc["metadata"] = patch_metadata(doc.get("metadata"), body["metadata"])
        return doc

    return vault_response(await VAULT.update(store, workspace, vault_id, change))


async def archive_vault(store: Store, workspace: str, vault_id: str) -> dict[str, Any]:
    return vault_response(await VAULT.archive(store, workspace, vault_id))


async def delete_vault(store: Store, workspace: str, vault_id: str) -> dict[str, Any]:
    """Remove the vault and every credential in it, in one transaction."""
    if not await store.delete_tree(workspace, VAULT.type, vault_id, (CREDENTIAL.type,)):
        raise VAULT.not_found(vault_id)
    return {"id": vault_id, "type": "vault_deleted"}


async def list_vaults(
    store: Store, workspace: str, *, limit: int | None, page_cursor: str | None, include_archived: bool
) -> dict[str, Any]:
    records, next_page = await store.list_resources(
        workspace, VAULT.type, limit=limit, page=page_cursor, include_archived=include_archived
    )
    return page([vault_response(r) for r in records], next_page)


# --- credentials: request -> stored document ------------------------------------------------------------------------
def _expires_at(value: Any) -> str | None:
    """``auth.expires_at`` as stored (RFC 3339, UTC); it must be a timestamp in the future."""
    if value is None:
        return None
    parsed = parse_rfc3339(value) if isinstance(value, str) else None
    if parsed is None:
        raise InvalidRequest("auth.expires_at: must be an RFC 3339 timestamp")
    if parsed <= utcnow():
        raise InvalidRequest("auth.expires_at: must be in the future")
    return rfc3339(parsed)


def _networking(value: Mapping[str, Any]) -> dict[str, Any]:
    if value.get("type") == "limited":
        return {"type": "limited", "allowed_hosts": list(value.get("allowed_hosts") or [])}
    return {"type": "unrestricted"}


def _injection(current: Mapping[str, Any], patch: Any) -> dict[str, bool]:
    out = {"header": bool(current.get("header")), "body": bool(current.get("body"))}
    if isinstance(patch, Mapping):
        for key in ("header", "body"):
            if patch.get(key) is not None:
                out[key] = bool(patch[key])
    if not (out["header"] or out["body"]):
        raise InvalidRequest("auth.injection_location: at least one of header and body must be enabled")
    return out


def _new_auth(config: StorageConfig, auth: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """(the public ``auth`` as returned, the encrypted secrets) of a create request's ``auth``."""
    kind = auth.get("type")
    plain: dict[str, str] = {}
    if kind == "mcp_oauth":
        # absent, not null, when unset: the response validator cannot take null for a nullable ``allOf`` (refresh)
        public: dict[str, Any] = {"type": "mcp_oauth", "mcp_server_url": auth["mcp_server_url"]}
        expires_at = _expires_at(auth.get("expires_at"))
        if expires_at is not None:
            public["expires_at"] = expires_at
        plain["access_token"] = auth["access_token"]
        refresh = auth.get("refresh")
        if isinstance(refresh, Mapping):
            endpoint_auth = refresh["token_endpoint_auth"]
            public["refresh"] = {
                "client_id": refresh["client_id"],
                "token_endpoint": refresh["token_endpoint"],
                "token_endpoint_auth": {"type": endpoint_auth["type"]},
                "resource": refresh.get("resource"),
                "scope": refresh.get("scope"),
            }
            plain["refresh_token"] = refresh["refresh_token"]
            if endpoint_auth["type"] != "none":
                plain["client_secret"] = endpoint_auth["client_secret"]
    elif kind == "static_bearer":
        public = {"type": "static_bearer", "mcp_server_url": auth["mcp_server_url"]}
        plain["token"] = auth["token"]
    else:  # environment_variable (the schema admits no other type)
        public = {
            "type": "environment_variable",
            "secret_name": auth["secret_name"],
            "networking": _networking(auth["networking"]),
            "injection_location": _injection(DEFAULT_INJECTION, auth.get("injection_location")),
        }
        plain["secret_value"] = auth["secret_value"]
    return public, {name: secrets.encrypt(config, value) for name, value in plain.items()}


def _changed_auth(
    config: StorageConfig, current: Mapping[str, Any], stored: Mapping[str, str], patch: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    """(public auth, encrypted secrets) after applying an update's ``auth``: omitted or null keeps a field."""
    kind = current.get("type")
    if patch.get("type") != kind:
        raise InvalidRequest(f"auth.type: a {kind} credential cannot be changed to {patch.get('type')}")
    public = dict(current)
    out = dict(stored)
    plain: dict[str, str] = {}
    if kind == "mcp_oauth":
        if patch.get("access_token") is not None:
            plain["access_token"] = patch["access_token"]
        if patch.get("expires_at") is not None:
            public["expires_at"] = _expires_at(patch["expires_at"])
        refresh_patch = patch.get("refresh")
        if isinstance(refresh_patch, Mapping):
            refresh = current.get("refresh")
            if not isinstance(refresh, Mapping):
                raise InvalidRequest(
                    "auth.refresh: this credential was created without a refresh configuration "
                    "(client_id and token_endpoint are set at creation)"
                )
            refresh = dict(refresh)
            if refresh_patch.get("refresh_token") is not None:
                plain["refresh_token"] = refresh_patch["refresh_token"]
            if refresh_patch.get("scope") is not None:
                refresh["scope"] = refresh_patch["scope"] or None  # "" clears the scope
            endpoint_auth = refresh_patch.get("token_endpoint_auth")
            if isinstance(endpoint_auth, Mapping):
                if endpoint_auth.get("client_secret") is not None:
                    plain["client_secret"] = endpoint_auth["client_secret"]
                elif "client_secret" not in stored:
                    raise InvalidRequest(
                        "auth.refresh.token_endpoint_auth.client_secret: required when the token endpoint had no "
                        "client authentication"
                    )
                refresh["token_endpoint_auth"] = {"type": endpoint_auth["type"]}
            public["refresh"] = refresh
    elif kind == "static_bearer":
        if patch.get("token") is not None:
            plain["token"] = patch["token"]
    else:
        if patch.get("secret_value") is not None:
            plain["secret_value"] = patch["secret_value"]
        if isinstance(patch.get("networking"), Mapping):
            public["networking"] = _networking(patch["networking"])
        if "injection_location" in patch:
            public["injection_location"] = _injection(
                current.get("injection_location") or {}, patch["injection_location"]
            )
    out.update({name: secrets.encrypt(config, value) for name, value in plain.items()})
    return public, out


# --- credentials: operations ----------------------------------------------------------------------------------------
def credential_response(record: Record) -> dict[str, Any]:
    """The SDK's ``BetaManagedAgentsCredential``: the public fields only (``secrets`` never leaves)."""
    return {
        "vault_id": record.parent_id,
        "display_name": record.doc.get("display_name"),
        "metadata": dict(record.doc.get("metadata") or {}),
        "auth": dict(record.doc["auth"]),
    } | timestamps(record)


async def create_credential(
    store: Store, config: StorageConfig, workspace: str, vault_id: str, body: Mapping[str, Any]
) -> dict[str, Any]:
    await VAULT.get_live(store, workspace, vault_id)
    auth, stored = _new_auth(config, body["auth"])
    doc = {
        "display_name": body.get("display_name"),
        "metadata": dict(body.get("metadata") or {}),
        "auth": auth,
        SECRETS: stored,
    }
    return credential_response(await CREDENTIAL.create(store, workspace, doc, parent_id=vault_id))


async def retrieve_credential(store: Store, workspace: str, vault_id: str, credential_id: str) -> dict[str, Any]:
    await VAULT.get(store, workspace, vault_id)
    return credential_response(await CREDENTIAL.get(store, workspace, credential_id, parent_id=vault_id))


async def update_credential(
    store: Store, config: StorageConfig, workspace: str, vault_id: str, credential_id: str, body: Mapping[str, Any]
) -> dict[str, Any]:
    await VAULT.get_live(store, workspace, vault_id)

    def change(record: Record) -> dict[str, Any]:
        doc = dict(record.doc)
        for key, value in body_fields(body, drop=(SECRETS, "vault_id")).items():
            if key == "metadata":
                doc["metadata"] = patch_metadata(doc.get("metadata"), value)
            elif key == "display_name":
                doc["display_name"] = value  # null clears it
            elif key == "auth" and isinstance(value, Mapping):
                doc["auth"], doc[SECRETS] = _changed_auth(config, doc["auth"], doc.get(SECRETS) or {}, value)
        return doc

    return credential_response(await CREDENTIAL.update(store, workspace, credential_id, change, parent_id=vault_id))


async def archive_credential(store: Store, workspace: str, vault_id: str, credential_id: str) -> dict[str, Any]:
    await VAULT.get(store, workspace, vault_id)
    return credential_response(await CREDENTIAL.archive(store, workspace, credential_id, parent_id=vault_id))


async def delete_credential(store: Store, workspace: str, vault_id: str, credential_id: str) -> dict[str, Any]:
    await VAULT.get(store, workspace, vault_id)
    return await CREDENTIAL.delete(store, workspace, credential_id, parent_id=vault_id)


async def list_credentials(
    store: Store,
    workspace: str,
    vault_id: str,
    *,
    limit: int | None,
    page_cursor: str | None,
    include_archived: bool,
) -> dict[str, Any]:
    await VAULT.get(store, workspace, vault_id)
    records, next_page = await store.list_resources(
        workspace,
        CREDENTIAL.type,
        limit=limit,
        page=page_cursor,
        include_archived=include_archived,
        parent_id=vault_id,
    )
    return page([credential_response(r) for r in records], next_page)


async def validate_mcp_oauth(
    store: Store, config: StorageConfig, workspace: str, vault_id: str, credential_id: str
) -> dict[str, Any]:
    """``BetaManagedAgentsCredentialValidation`` from local checks only (see the module docstring)."""
    await VAULT.get(store, workspace, vault_id)
    record = await CREDENTIAL.get_live(store, workspace, credential_id, parent_id=vault_id)
    auth = record.doc["auth"]
    if auth.get("type") != "mcp_oauth":
        raise InvalidRequest(f"credential {credential_id!r} is a {auth.get('type')} credential, not mcp_oauth")
    stored = record.doc.get(SECRETS) or {}
    if "access_token" in stored:
        secrets.decrypt(config, stored["access_token"])  # the stored token is intact and readable with our key
    has_refresh = isinstance(auth.get("refresh"), Mapping) and "refresh_token" in stored
    expires = parse_rfc3339(auth["expires_at"]) if isinstance(auth.get("expires_at"), str) else None
    now = utcnow()
    expired = expires is not None and expires <= now
    return {
        "type": "vault_credential_validation",
        "credential_id": record.id,
        "vault_id": vault_id,
        "status": "invalid" if "access_token" not in stored or (expired and not has_refresh) else "unknown",
        "has_refresh_token": has_refresh,
        "validated_at": rfc3339(now),  # mcp_probe and refresh absent (null): no probe, no refresh attempted
    }


def stored_secret(config: StorageConfig, record: Record, name: str) -> str | None:
    """The plaintext of one stored secret (for the code that will use credentials, and for tests)."""
    token = (record.doc.get(SECRETS) or {}).get(name)
    return None if token is None else secrets.decrypt(config, token)
