"""Worker credentials of self-hosted environments: environment keys and per-item sessions tokens.

* An **environment key** (``sk-gw-env-…``) is minted by ``litellm-gateway environments key ENVIRONMENT_ID`` for one
  self-hosted environment, in that environment's workspace. It is a row of the generic ``resources`` table (type
  ``environment_key``, parent = the environment) whose id is derived from the key's SHA-256 (``ekey_`` + 32 hex
  digits), so a presented key is found by primary key; the row holds the full digest (compared in constant time),
  a name, the first characters of the key (``prefix``, to recognise it in a list), ``created_at`` and
  ``last_used_at`` (written at most once a minute). The key itself is never stored. Revoking deletes the row.
* A **sessions token** (``sk-gw-sess-…``) is minted for every hand-out of a work item by ``poll`` and travels in the
  item's ``secret`` (URL-safe base64 of ``{"sessions_token": …}``). Stored the same way (type ``sessions_token``,
  ``stok_`` + 32 hex digits, parent = the environment, the work item and its session in the document); valid while
  its work item exists and is not ``stopped``.

Both are purged with their environment. What each credential may call is decided in :mod:`gateway.worker_auth`."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

import sqlalchemy as sa

from gateway.errors import InvalidRequest, NotFound
from gateway.storage import code_workers
from gateway.storage.store import Record, Store, record_of, rfc3339, utcnow
from gateway.storage.tables import resources

ENVIRONMENT_KEY_TYPE = "environment_key"
SESSIONS_TOKEN_TYPE = "sessions_token"
TYPES = (ENVIRONMENT_KEY_TYPE, SESSIONS_TOKEN_TYPE)
ENVIRONMENT_KEY_PREFIX = "sk-gw-env-"
SESSIONS_TOKEN_PREFIX = "sk-gw-sess-"
_ID_PREFIX = {ENVIRONMENT_KEY_TYPE: "ekey_", SESSIONS_TOKEN_TYPE: "stok_"}
#: Random characters of a key shown in lists (after the fixed prefix).
SHOWN_CHARACTERS = 4
LAST_USED_REFRESH = timedelta(seconds=60)
ENVIRONMENT_TYPE = "environment"
WORK_TYPE = "work"

CredentialKind = Literal["environment_key", "sessions_token", "worker_token"]


@dataclass(frozen=True)
class Credential:
    """A worker credential that matched: what it is and what it is tied to."""

    kind: CredentialKind
    id: str
    workspace: str
    environment_id: str
    work_id: str | None = None
    session_id: str | None = None


def looks_like_worker_credential(token: str) -> bool:
    """Whether ``token`` has the shape of an environment key or a sessions token (only those are looked up)."""
    return token.startswith((ENVIRONMENT_KEY_PREFIX, SESSIONS_TOKEN_PREFIX, code_workers.TOKEN_PREFIX))


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def _row_id(kind: str, digest: bytes) -> str:
    return _ID_PREFIX[kind] + digest.hex()[:32]


def _new_token(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


async def _row(store: Store, type_: str, id_: str) -> Record | None:
    """A row by primary key, whatever its workspace (credentials arrive before the workspace is known)."""
    async with store.engine.connect() as conn:
        row = (await conn.execute(sa.select(resources).where(resources.c.id == id_, resources.c.type == type_))).first()
    return None if row is None else record_of(row)


# --- environment keys -------------------------------------------------------------------------------------------------
async def _self_hosted_environment(store: Store, environment_id: str) -> Record:
    env = await _row(store, ENVIRONMENT_TYPE, environment_id)
    if env is None:
        raise NotFound(f"environment {environment_id!r} not found")
    if (env.doc.get("config") or {}).get("type") != "self_hosted":
        raise InvalidRequest(f"environment {environment_id!r} is not self_hosted: environment keys are for its workers")
    return env


def key_response(record: Record) -> dict[str, Any]:
    """What a list shows of a key (never the key or its digest)."""
    return {
        "id": record.id,
        "type": ENVIRONMENT_KEY_TYPE,
        "environment_id": record.parent_id,
        "workspace": record.workspace,
        "name": record.doc.get("name"),
        "prefix": record.doc.get("prefix"),
        "created_at": rfc3339(record.created_at),
        "last_used_at": record.doc.get("last_used_at"),
    }


async def mint_environment_key(
    store: Store, environment_id: str, *, name: str | None = None
) -> tuple[str, dict[str, Any]]:
    """A new key for the self-hosted environment ``environment_id`` (404 if there is none, 400 if it is archived or
    not self-hosted): (the key, its list entry). Only the digest is stored."""
    env = await _self_hosted_environment(store, environment_id)
    if env.archived_at is not None:
        raise InvalidRequest(f"environment {environment_id!r} is archived")
    token = _new_token(ENVIRONMENT_KEY_PREFIX)
    digest = _digest(token)
    doc = {
        "name": name,
        "prefix": token[: len(ENVIRONMENT_KEY_PREFIX) + SHOWN_CHARACTERS],
        "sha256": digest.hex(),
        "last_used_at": None,
    }
    record = await store.create(
        env.workspace, ENVIRONMENT_KEY_TYPE, _row_id(ENVIRONMENT_KEY_TYPE, digest), doc, parent_id=environment_id
    )
    return token, key_response(record)


async def list_environment_keys(store: Store, environment_id: str) -> list[dict[str, Any]]:
    """The environment's keys, oldest first (404 if the environment does not exist)."""
    env = await _row(store, ENVIRONMENT_TYPE, environment_id)
    if env is None:
        raise NotFound(f"environment {environment_id!r} not found")
    query = (
        sa.select(resources)
        .where(resources.c.type == ENVIRONMENT_KEY_TYPE, resources.c.parent_id == environment_id)
        .order_by(resources.c.created_at.asc(), resources.c.id.asc())
    )
    async with store.engine.connect() as conn:
        return [key_response(record_of(row)) for row in (await conn.execute(query)).all()]


async def revoke_environment_key(store: Store, key_id: str) -> dict[str, Any]:
    """Delete the key ``key_id`` (404 if there is none): its next request answers 401."""
    record = await _row(store, ENVIRONMENT_KEY_TYPE, key_id)
    if record is None or not await store.delete(record.workspace, ENVIRONMENT_KEY_TYPE, key_id):
        raise NotFound(f"environment key {key_id!r} not found")
    return key_response(record)


# --- sessions tokens --------------------------------------------------------------------------------------------------
async def issue_sessions_token(store: Store, workspace: str, environment_id: str, work_id: str, session_id: str) -> str:
    """A new sessions token for one hand-out of ``work_id`` (scoped to ``session_id``); only its digest is stored."""
    token = _new_token(SESSIONS_TOKEN_PREFIX)
    digest = _digest(token)
    doc = {"sha256": digest.hex(), "work_id": work_id, "session_id": session_id}
    await store.create(
        workspace, SESSIONS_TOKEN_TYPE, _row_id(SESSIONS_TOKEN_TYPE, digest), doc, parent_id=environment_id
    )
    return token


def work_secret(sessions_token: str, *, bridge_base_url: str | None = None) -> str:
    """The work item's ``secret``: URL-safe base64 of ``{"sessions_token": …}`` (what the SDK's worker decodes). For
    a bridge environment (``bridge_base_url``) the same token is also the Claude Code bridge's ``WorkSecret``
    (``version: 1``, ``session_ingress_token``, ``api_base_url``, ``use_code_sessions``)."""
    doc: dict[str, Any] = {"sessions_token": sessions_token}
    if bridge_base_url is not None:
        doc.update(
            version=1,
            session_ingress_token=sessions_token,
            api_base_url=bridge_base_url,
            sources=[],
            auth=[],
            use_code_sessions=True,
        )
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode("ascii")


# --- lookup -----------------------------------------------------------------------------------------------------------
async def identify(store: Store, token: str) -> Credential | None:
    """The live credential ``token`` is, or None (unknown, revoked, its environment gone, its work item stopped)."""
    if token.startswith(code_workers.TOKEN_PREFIX):
        return await _worker_token(store, token)
    if token.startswith(ENVIRONMENT_KEY_PREFIX):
        kind: CredentialKind = "environment_key"
    elif token.startswith(SESSIONS_TOKEN_PREFIX):
        kind = "sessions_token"
    else:
        return None
    digest = _digest(token)
    record = await _row(store, kind, _row_id(kind, digest))
    if record is None or record.parent_id is None:
        return None
    if not hmac.compare_digest(str(record.doc.get("sha256", "")), digest.hex()):
        return None
    if kind == "environment_key":
        if await store.get(record.workspace, ENVIRONMENT_TYPE, record.parent_id) is None:
            return None
        await _touch(store, record)
        return Credential(kind, record.id, record.workspace, record.parent_id)
    work_id = str(record.doc.get("work_id"))
    item = await store.get(record.workspace, WORK_TYPE, work_id)
    if item is None or item.parent_id != record.parent_id or item.doc.get("state") == "stopped":
        if item is None or item.doc.get("state") == "stopped":  # of no further use: drop it
            await store.delete(record.workspace, SESSIONS_TOKEN_TYPE, record.id)
        return None
    return Credential(kind, record.id, record.workspace, record.parent_id, work_id, str(record.doc.get("session_id")))


async def _worker_token(store: Store, token: str) -> Credential | None:
    """A live worker token from ``POST /v1/code/sessions/{id}/bridge`` (not expired, its session still there)."""
    record = await _row(store, code_workers.TOKEN_TYPE, code_workers.token_row_id(token))
    if record is None or record.parent_id is None:
        return None
    if not hmac.compare_digest(str(record.doc.get("sha256", "")), _digest(token).hex()):
        return None
    if str(record.doc.get("expires_at", "")) < (rfc3339(utcnow()) or ""):
        await store.delete(record.workspace, code_workers.TOKEN_TYPE, record.id)
        return None
    if await store.get(record.workspace, "session", record.parent_id) is None:
        return None
    environment_id = str(record.doc.get("environment_id", ""))
    return Credential("worker_token", record.id, record.workspace, environment_id, None, record.parent_id)


async def _touch(store: Store, record: Record) -> None:
    """Record the key's use, at most once per :data:`LAST_USED_REFRESH` (one plain UPDATE, no version bump)."""
    now = utcnow()
    last = record.doc.get("last_used_at")
    if isinstance(last, str) and last >= (rfc3339(now - LAST_USED_REFRESH) or ""):
        return
    async with store.engine.begin() as conn:
        await conn.execute(
            resources.update()
            .where(resources.c.id == record.id, resources.c.type == ENVIRONMENT_KEY_TYPE)
            .values(doc={**record.doc, "last_used_at": rfc3339(now)})
        )
