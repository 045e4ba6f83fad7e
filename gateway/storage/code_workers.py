"""The worker of a code session (CCR v2 worker protocol): its epoch, its reported state and its credentials.

* One row per code session in the generic ``resources`` table (type ``code_worker``, id ``cwk_<session id>``).
  :func:`register` bumps ``epoch`` with a compare-and-set on the row's ``version``, so two registrations, in one
  process or in two processes on one database, never hand out the same epoch.
* Every write of a worker names its epoch. :func:`check_within` runs inside the transaction that stores the write
  (the events, the state): it reads the row ``FOR UPDATE`` and refuses (409) an epoch that is not the current one.
  A registration that commits first makes the later write fail; a registration that comes second waits for the
  write's transaction on PostgreSQL (row lock) and SQLite (one writer at a time). So a superseded worker never
  writes after its successor registered: the database decides, not a process's memory.
* ``POST /v1/code/sessions/{id}/bridge`` issues a **worker token** (``sk-gw-wrk-…``): stored as a digest (type
  ``worker_token``, ``wtok_`` + 32 hex digits, parent = the session), valid for :data:`WORKER_TOKEN_TTL` seconds
  and only for that session's worker calls (:mod:`gateway.worker_auth`)."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.errors import Conflict
from gateway.storage.store import Record, Store, rfc3339, utcnow

TYPE = "code_worker"
TOKEN_TYPE = "worker_token"
TOKEN_PREFIX = "sk-gw-wrk-"
#: seconds a worker token from ``/bridge`` is valid (the client asks for a new one before it runs out)
WORKER_TOKEN_TTL = 3600
#: a worker that registered or sent a heartbeat this recently holds the session (its turns run there)
ATTACHED_FOR = timedelta(seconds=60)
STATUSES = ("idle", "running", "requires_action")


def row_id(session_id: str) -> str:
    return f"cwk_{session_id}"


def token_row_id(token: str) -> str:
    return "wtok_" + hashlib.sha256(token.encode("utf-8")).hexdigest()[:32]


def superseded(session_id: str, epoch: Any, current: int) -> Conflict:
    return Conflict(
        f"worker_epoch {epoch!r} of session {session_id!r} is superseded (the current epoch is {current}); "
        "this worker must stop"
    )


def _fresh(session_id: str) -> dict[str, Any]:
    return {
        "session_id": session_id,
        "epoch": 0,
        "worker_status": None,
        "external_metadata": {},
        "internal_metadata": {},
        "seen_at": None,
        "deliveries": {},
    }


async def state(store: Store, workspace: str, session_id: str) -> dict[str, Any]:
    """The stored worker state (a fresh one, epoch 0, when no worker ever registered)."""
    record = await store.get(workspace, TYPE, row_id(session_id))
    return _fresh(session_id) if record is None else dict(record.doc)


async def register(store: Store, workspace: str, session_id: str) -> int:
    """A new epoch for the session's worker (1 for the first); every older epoch is superseded from now on."""
    existing = await store.get(workspace, TYPE, row_id(session_id))
    if existing is None:
        try:
            await store.create(
                workspace,
                TYPE,
                row_id(session_id),
                {**_fresh(session_id), "epoch": 1, "seen_at": rfc3339(utcnow())},
                parent_id=session_id,
            )
            return 1
        except sa.exc.IntegrityError:  # another registration created the row first: bump it instead
            pass

    async def bump(current: Record) -> Mapping[str, Any]:
        return {**current.doc, "epoch": int(current.doc.get("epoch") or 0) + 1, "seen_at": rfc3339(utcnow())}

    record = await store.update(workspace, TYPE, row_id(session_id), bump)
    if record is None:  # deleted meanwhile (its session was deleted)
        raise Conflict(f"session {session_id!r} has no worker row; retry")
    return int(record.doc["epoch"])


def check_within(
    workspace: str, session_id: str, epoch: Any, change: Callable[[dict[str, Any]], None] | None = None
) -> Callable[[AsyncConnection], Awaitable[None]]:
    """A step of another transaction: refuse (409) unless ``epoch`` is the session's current worker epoch, and
    record that the worker was seen (plus ``change`` to its state)."""

    async def apply(conn: AsyncConnection) -> None:
        current: list[int] = []

        def mutate(record: Record) -> Mapping[str, Any]:
            now_epoch = int(record.doc.get("epoch") or 0)
            current.append(now_epoch)
            if not _same(epoch, now_epoch):
                raise superseded(session_id, epoch, now_epoch)
            doc = {**record.doc, "seen_at": rfc3339(utcnow())}
            if change is not None:
                change(doc)
            return doc

        if not await store_update_within(conn, workspace, session_id, mutate):
            raise superseded(session_id, epoch, 0)

    return apply


async def store_update_within(
    conn: AsyncConnection, workspace: str, session_id: str, mutate: Callable[[Record], Mapping[str, Any]]
) -> bool:
    return await Store.update_within(conn, workspace, TYPE, row_id(session_id), mutate)


def _same(given: Any, current: int) -> bool:
    """Whether ``worker_epoch`` as sent (an integer, or protojson int64 as a numeric string) is ``current``."""
    if isinstance(given, bool):
        return False
    if isinstance(given, int):
        return given == current
    return isinstance(given, str) and given.strip().isdigit() and int(given) == current


async def write(
    store: Store, workspace: str, session_id: str, epoch: Any, change: Callable[[dict[str, Any]], None] | None = None
) -> None:
    """A worker call that writes only its own state (``PUT /worker``, heartbeat, delivery acks), epoch-checked."""
    async with store.engine.begin() as conn:
        await check_within(workspace, session_id, epoch, change)(conn)


def attached(doc: Mapping[str, Any], now: datetime | None = None) -> bool:
    """Whether a worker holds the session now (registered, and seen within :data:`ATTACHED_FOR`)."""
    seen = doc.get("seen_at")
    if not int(doc.get("epoch") or 0) or not isinstance(seen, str):
        return False
    moment = (now or utcnow()) - ATTACHED_FOR
    return seen >= (rfc3339(moment) or "")


def worker_response(doc: Mapping[str, Any]) -> dict[str, Any]:
    """``GET /worker``: ``{worker: {...}}`` with the metadata a replacement worker restores."""
    return {
        "worker": {
            "worker_status": doc.get("worker_status") or "idle",
            "worker_epoch": int(doc.get("epoch") or 0),
            "external_metadata": dict(doc.get("external_metadata") or {}),
            "internal_metadata": dict(doc.get("internal_metadata") or {}),
            "last_heartbeat_at": doc.get("seen_at"),
        }
    }


# --- worker tokens ------------------------------------------------------------------------------------------------
async def issue_token(store: Store, workspace: str, session_id: str, environment_id: str, epoch: int) -> str:
    """A new worker token for ``session_id`` (valid :data:`WORKER_TOKEN_TTL` seconds); only its digest is stored."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    digest = hashlib.sha256(token.encode("utf-8")).hexdigest()
    expires = utcnow() + timedelta(seconds=WORKER_TOKEN_TTL)
    doc = {
        "sha256": digest,
        "session_id": session_id,
        "environment_id": environment_id,
        "epoch": epoch,
        "expires_at": rfc3339(expires),
    }
    await store.create(workspace, TOKEN_TYPE, token_row_id(token), doc, parent_id=session_id)
    return token


async def purge(store: Store, workspace: str, session_id: str) -> None:
    """Remove a deleted session's worker row and worker tokens."""
    await store.delete_children(workspace, session_id, (TYPE, TOKEN_TYPE))
