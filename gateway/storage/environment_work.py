"""The self-hosted work queue (``/v1/environments/{environment_id}/work*``).

A work item (``work_…``, a child of its environment) asks a self-hosted worker to run one session. Items are
created by :func:`enqueue` - called when a session targeting a ``self_hosted`` environment is created (or a
dormant one receives new events); nothing in the public API creates them directly.

States (``BetaSelfHostedWork.state``): ``queued`` → (``ack``) ``starting`` → (first ``heartbeat``) ``active`` →
(``stop``) ``stopping`` → ``stopped`` (a forced stop, a stop of a never-started item, or a second stop - the
worker's own, once it has shut down - goes straight to ``stopped``).

* ``poll`` hands out the oldest *available* item: ``queued`` and either never polled or polled more than
  ``reclaim_older_than_ms`` ago (default 5000) without an ack; or ``starting``/``active`` with an expired lease
  (the worker stopped heartbeating: the item is handed out again as ``queued``). The hand-out is a compare-and-set
  on the row's version (``Store.update``), so concurrent pollers, on SQLite or PostgreSQL, never receive the same
  item. ``block_ms`` (clamped to 0..999) long-polls. Nothing available: JSON ``null``.
* ``ack``: ``queued`` → ``starting`` and a lease of ``ttl_seconds`` (the handlers pass ``storage.work_ttl_seconds``,
  default :data:`DEFAULT_TTL_SECONDS`).
* ``heartbeat``: ``desired_ttl_seconds`` (clamped to 1..:data:`MAX_TTL_SECONDS`, default the configured TTL)
  extends the lease; ``expected_last_heartbeat`` (``NO_HEARTBEAT`` for the first one) must equal the stored
  ``latest_heartbeat_at`` or the answer is 412 with ``error.details`` = ``{"error_code":
  "heartbeat_precondition_failed", "current_state": {state, ttl_seconds, last_heartbeat, lease_extended: false}}``
  (the SDK's worker reads it); not compared for ``stopping``/``stopped``.
* ``stats``: ``depth`` = available items, ``pending`` = polled, not yet acknowledged, within the reclaim window;
  ``oldest_queued_at`` over both; ``workers_polling`` = distinct ``Anthropic-Worker-ID`` values that polled in the
  last 30 s (one small row per worker and environment, refreshed at most every :data:`POLLER_REFRESH`).
* ``secret``: every hand-out by ``poll`` carries a new sessions token scoped to the item's session
  (:mod:`gateway.storage.environment_keys`); other responses carry ``null``."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from gateway.errors import Conflict, GatewayError, InvalidRequest
from gateway.storage import environment_keys, environments
from gateway.storage.pagination import page
from gateway.storage.resource import Kind
from gateway.storage.store import Record, Store, parse_rfc3339, record_of, rfc3339, utcnow
from gateway.storage.tables import resources

KIND = Kind("work", "work", label="work item")
DEFAULT_TTL_SECONDS = 30
MAX_TTL_SECONDS = 3600
DEFAULT_RECLAIM_MS = 5000
MAX_BLOCK_MS = 999
NO_HEARTBEAT = "NO_HEARTBEAT"
#: How often a blocking poll looks again.
POLL_INTERVAL = 0.05
#: Candidates examined per poll attempt.
CANDIDATES = 20
POLLER_TYPE = "work_poller"
POLLER_WINDOW = timedelta(seconds=30)
POLLER_REFRESH = timedelta(seconds=5)

PUBLIC = (
    "acknowledged_at",
    "started_at",
    "latest_heartbeat_at",
    "stop_requested_at",
    "stopped_at",
)


class PreconditionFailed(GatewayError):
    """412: the heartbeat's ``expected_last_heartbeat`` does not match (another worker may hold the lease)."""

    status = 412
    error_type = "invalid_request_error"


def _lease_state(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The lease as stored (``BetaWorkLeaseState``), for a refused heartbeat's ``error.details.current_state``."""
    return {
        "state": doc["state"],
        "ttl_seconds": int(doc.get("_ttl") or DEFAULT_TTL_SECONDS),
        "last_heartbeat": doc.get("latest_heartbeat_at"),
        "lease_extended": False,
    }


class _Taken(Exception):
    """The candidate stopped being available between the read and the compare-and-set."""


# --- helpers ----------------------------------------------------------------------------------------------------------
def response(record: Record) -> dict[str, Any]:
    doc = record.doc
    out: dict[str, Any] = {
        "id": record.id,
        "type": "work",
        "environment_id": record.parent_id,
        "data": dict(doc["data"]),
        "state": doc["state"],
        "metadata": dict(doc.get("metadata") or {}),
        "created_at": rfc3339(record.created_at),
        "secret": None,
    }
    for key in PUBLIC:
        out[key] = doc.get(key)
    return out


def _at(value: Any) -> datetime | None:
    return parse_rfc3339(value) if isinstance(value, str) else None


def _lease_expired(doc: Mapping[str, Any], now: datetime) -> bool:
    until = _at(doc.get("_lease_until"))
    return doc.get("state") in ("starting", "active") and until is not None and until <= now


def _available(doc: Mapping[str, Any], now: datetime, reclaim: timedelta) -> bool:
    if doc.get("state") == "queued":
        polled = _at(doc.get("_polled_at"))
        return polled is None or polled <= now - reclaim
    return _lease_expired(doc, now)


async def _environment(store: Store, workspace: str, environment_id: str) -> Record:
    return await environments.KIND.get(store, workspace, environment_id)


async def _item(store: Store, workspace: str, environment_id: str, work_id: str) -> Record:
    await _environment(store, workspace, environment_id)
    return await KIND.get(store, workspace, work_id, parent_id=environment_id)


# --- creation ---------------------------------------------------------------------------------------------------------
async def enqueue(
    store: Store,
    workspace: str,
    environment_id: str,
    session_id: str,
    metadata: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Queue the session ``session_id`` for the workers of the self-hosted environment ``environment_id``.
    404 if the environment does not exist (in ``workspace``); 400 if it is archived or not self-hosted. The
    session's metadata is projected as a string map. Returns the work item (``BetaSelfHostedWork``)."""
    env = await _environment(store, workspace, environment_id)
    if env.archived_at is not None:
        raise InvalidRequest(f"environment {environment_id!r} is archived and cannot take new work")
    if (env.doc.get("config") or {}).get("type") != "self_hosted":
        raise InvalidRequest(f"environment {environment_id!r} is not self_hosted: it has no work queue")
    doc: dict[str, Any] = {
        "data": {"type": "session", "id": session_id},
        "state": "queued",
        "metadata": {str(k): str(v) for k, v in (metadata or {}).items() if v is not None},
        **dict.fromkeys(PUBLIC),
        "_polled_at": None,
        "_worker_id": None,
        "_lease_until": None,
        "_ttl": DEFAULT_TTL_SECONDS,
    }
    return response(await KIND.create(store, workspace, doc, parent_id=environment_id))


# --- worker calls -----------------------------------------------------------------------------------------------------
async def poll(
    store: Store,
    workspace: str,
    environment_id: str,
    *,
    block_ms: int | None = None,
    reclaim_older_than_ms: int | None = None,
    worker_id: str | None = None,
    base_url: str | None = None,
) -> dict[str, Any] | None:
    """Hand out the next available item (see the module doc), or None. ``base_url``: the gateway's URL as the worker
    reached it (a bridge environment's work secret names it as ``api_base_url``)."""
    env = await _environment(store, workspace, environment_id)
    if (env.doc.get("config") or {}).get("type") != "self_hosted":
        raise InvalidRequest(f"environment {environment_id!r} is not self_hosted: it has no work queue")
    reclaim_ms = DEFAULT_RECLAIM_MS if reclaim_older_than_ms is None else max(0, min(reclaim_older_than_ms, 2**31))
    reclaim = timedelta(milliseconds=reclaim_ms)
    wait = 0 if block_ms is None else max(0, min(block_ms, MAX_BLOCK_MS))
    if worker_id:
        await _seen(store, workspace, environment_id, worker_id)
    deadline = asyncio.get_running_loop().time() + wait / 1000
    while True:
        item = await _claim(store, workspace, environment_id, reclaim, worker_id)
        if item is not None:
            token = await environment_keys.issue_sessions_token(
                store, workspace, environment_id, item["id"], item["data"]["id"]
            )
            bridged = isinstance(env.doc.get("_bridge"), Mapping)
            secret = environment_keys.work_secret(token, bridge_base_url=(base_url or "") if bridged else None)
            return {**item, "secret": secret}
        if asyncio.get_running_loop().time() >= deadline:
            return None
        await asyncio.sleep(POLL_INTERVAL)


async def _seen(store: Store, workspace: str, environment_id: str, worker_id: str) -> None:
    """Remember that ``worker_id`` polled now (for ``workers_polling``); best effort, never fails the poll."""
    poller_id = "wpl_" + hashlib.sha256(f"{environment_id}\x00{worker_id}".encode()).hexdigest()[:40]
    now = utcnow()
    record = await store.get(workspace, POLLER_TYPE, poller_id)
    if record is not None:
        last = _at(record.doc.get("last_poll_at"))
        if last is not None and now - last < POLLER_REFRESH:
            return
        try:
            await store.update(
                workspace, POLLER_TYPE, poller_id, lambda r: _async({**r.doc, "last_poll_at": rfc3339(now)})
            )
        except Conflict:
            pass
        return
    try:
        await store.create(workspace, POLLER_TYPE, poller_id, {"last_poll_at": rfc3339(now)}, parent_id=environment_id)
    except sa.exc.IntegrityError:  # the same worker's concurrent poll recorded it
        pass


async def _async(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return value


async def _candidates(
    store: Store, workspace: str, environment_id: str, now: datetime, reclaim: timedelta
) -> list[str]:
    """Ids of possibly available items, oldest first (re-checked under the compare-and-set)."""
    state = resources.c.doc["state"].as_string()
    polled = resources.c.doc["_polled_at"].as_string()
    lease = resources.c.doc["_lease_until"].as_string()
    cutoff = rfc3339(now - reclaim)
    query = (
        sa.select(resources.c.id)
        .where(
            resources.c.workspace == workspace,
            resources.c.type == KIND.type,
            resources.c.parent_id == environment_id,
            sa.or_(
                sa.and_(state == "queued", sa.or_(polled.is_(None), polled <= cutoff)),
                sa.and_(state.in_(("starting", "active")), lease.is_not(None), lease <= rfc3339(now)),
            ),
        )
        .order_by(resources.c.created_at.asc(), resources.c.id.asc())
        .limit(CANDIDATES)
    )
    async with store.engine.connect() as conn:
        return [row.id for row in (await conn.execute(query)).all()]


async def _claim(
    store: Store, workspace: str, environment_id: str, reclaim: timedelta, worker_id: str | None
) -> dict[str, Any] | None:
    now = utcnow()
    for work_id in await _candidates(store, workspace, environment_id, now, reclaim):

        async def mutate(current: Record) -> Mapping[str, Any]:
            moment = utcnow()
            if current.parent_id != environment_id or not _available(current.doc, moment, reclaim):
                raise _Taken
            doc = dict(current.doc)
            if doc["state"] != "queued":  # an expired lease: the item starts over
                doc.update(dict.fromkeys(PUBLIC), state="queued", _lease_until=None)
            doc["_polled_at"] = rfc3339(moment)
            doc["_worker_id"] = worker_id
            return doc

        try:
            record = await store.update(workspace, KIND.type, work_id, mutate)
        except _Taken:
            continue
        if record is not None:
            return response(record)
    return None


async def ack(
    store: Store, workspace: str, environment_id: str, work_id: str, *, ttl_seconds: int = DEFAULT_TTL_SECONDS
) -> dict[str, Any]:
    """``queued`` → ``starting`` (idempotent for an item already ``starting``), with a lease of ``ttl_seconds``;
    409 in any other state."""
    await _item(store, workspace, environment_id, work_id)

    def change(current: Record) -> Mapping[str, Any]:
        doc = dict(current.doc)
        if doc["state"] == "starting":
            return doc
        if doc["state"] != "queued":
            raise Conflict(f"work item {work_id!r} is {doc['state']} and cannot be acknowledged")
        now = utcnow()
        doc.update(
            state="starting",
            acknowledged_at=rfc3339(now),
            _lease_until=rfc3339(now + timedelta(seconds=ttl_seconds)),
            _ttl=ttl_seconds,
        )
        return doc

    return response(await KIND.update(store, workspace, work_id, change, parent_id=environment_id))


async def heartbeat(
    store: Store,
    workspace: str,
    environment_id: str,
    work_id: str,
    *,
    desired_ttl_seconds: int | None = None,
    expected_last_heartbeat: str | None = None,
    default_ttl_seconds: int = DEFAULT_TTL_SECONDS,
) -> dict[str, Any]:
    """Extend the lease (see the module doc): ``BetaSelfHostedWorkHeartbeatResponse``."""
    await _item(store, workspace, environment_id, work_id)
    ttl = default_ttl_seconds if desired_ttl_seconds is None else max(1, min(desired_ttl_seconds, MAX_TTL_SECONDS))
    extended = False

    def change(current: Record) -> Mapping[str, Any]:
        nonlocal extended
        doc = dict(current.doc)
        state = doc["state"]
        extended = False
        if state == "stopped":
            return doc
        if state == "queued":
            raise Conflict(f"work item {work_id!r} has not been acknowledged; ack it before heartbeating")
        if state != "stopping" and expected_last_heartbeat is not None:
            stored = doc.get("latest_heartbeat_at") or NO_HEARTBEAT
            if expected_last_heartbeat != stored:
                raise PreconditionFailed(
                    f"expected_last_heartbeat {expected_last_heartbeat!r} does not match the stored heartbeat "
                    f"{doc.get('latest_heartbeat_at') or ''!r}: another worker may hold the lease",
                    details={"error_code": "heartbeat_precondition_failed", "current_state": _lease_state(doc)},
                )
        now = utcnow()
        doc.update(latest_heartbeat_at=rfc3339(now), _lease_until=rfc3339(now + timedelta(seconds=ttl)), _ttl=ttl)
        if state == "starting":
            doc.update(state="active", started_at=doc.get("started_at") or rfc3339(now))
        extended = True
        return doc

    record = await KIND.update(store, workspace, work_id, change, parent_id=environment_id)
    return {
        "type": "work_heartbeat",
        "last_heartbeat": record.doc.get("latest_heartbeat_at") or "",
        "lease_extended": extended,
        "state": record.doc["state"],
        "ttl_seconds": int(record.doc.get("_ttl") or 0) if extended else 0,
    }


# --- control plane ----------------------------------------------------------------------------------------------------
async def stop(
    store: Store, workspace: str, environment_id: str, work_id: str, *, force: bool = False
) -> dict[str, Any]:
    """Graceful stop → ``stopping``; forced, never-started or second stop → ``stopped``; already stopped → 409."""
    await _item(store, workspace, environment_id, work_id)

    def change(current: Record) -> Mapping[str, Any]:
        doc = dict(current.doc)
        state = doc["state"]
        if state == "stopped":
            raise Conflict(f"work item {work_id!r} is already stopped")
        now = rfc3339(utcnow())
        doc["stop_requested_at"] = doc.get("stop_requested_at") or now
        if force or state in ("queued", "stopping"):
            doc.update(state="stopped", stopped_at=now, _lease_until=None)
        else:
            doc["state"] = "stopping"
        return doc

    return response(await KIND.update(store, workspace, work_id, change, parent_id=environment_id))


async def update(
    store: Store, workspace: str, environment_id: str, work_id: str, body: Mapping[str, Any]
) -> dict[str, Any]:
    """Merge-patch ``metadata`` (a ``null`` value deletes the key)."""
    await _item(store, workspace, environment_id, work_id)

    def change(current: Record) -> Mapping[str, Any]:
        doc = dict(current.doc)
        patch = body.get("metadata")
        if isinstance(patch, Mapping):
            out = dict(doc.get("metadata") or {})
            for key, value in patch.items():
                if value is None:
                    out.pop(key, None)
                else:
                    out[key] = value
            doc["metadata"] = out
        return doc

    return response(await KIND.update(store, workspace, work_id, change, parent_id=environment_id))


async def retrieve(store: Store, workspace: str, environment_id: str, work_id: str) -> dict[str, Any]:
    return response(await _item(store, workspace, environment_id, work_id))


async def list_work(
    store: Store, workspace: str, environment_id: str, *, limit: int | None, page_cursor: str | None
) -> dict[str, Any]:
    """Every item of the environment, newest first."""
    await _environment(store, workspace, environment_id)
    records, next_page = await store.list_resources(
        workspace, KIND.type, limit=limit, page=page_cursor, parent_id=environment_id, include_archived=True
    )
    return page([response(r) for r in records], next_page)


async def stats(store: Store, workspace: str, environment_id: str) -> dict[str, Any]:
    """Queue depth (available now), pending (polled, unacknowledged, within the default reclaim window)."""
    await _environment(store, workspace, environment_id)
    query = sa.select(resources.c.created_at, resources.c.doc).where(
        resources.c.workspace == workspace,
        resources.c.type == KIND.type,
        resources.c.parent_id == environment_id,
        resources.c.doc["state"].as_string().in_(("queued", "starting", "active")),
    )
    async with store.engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    now = utcnow()
    reclaim = timedelta(milliseconds=DEFAULT_RECLAIM_MS)
    depth = pending = 0
    oldest: datetime | None = None
    for row in rows:
        doc = dict(row.doc)
        if _available(doc, now, reclaim):
            depth += 1
        elif doc.get("state") == "queued":
            pending += 1
        else:
            continue
        if oldest is None or row.created_at < oldest:
            oldest = row.created_at
    pollers = sa.select(sa.func.count()).where(
        resources.c.workspace == workspace,
        resources.c.type == POLLER_TYPE,
        resources.c.parent_id == environment_id,
        resources.c.doc["last_poll_at"].as_string() >= rfc3339(now - POLLER_WINDOW),
    )
    async with store.engine.connect() as conn:
        workers = int((await conn.execute(pollers)).scalar_one())
    return {
        "type": "work_queue_stats",
        "depth": depth,
        "pending": pending,
        "oldest_queued_at": rfc3339(oldest),
        "workers_polling": workers,
    }


async def purge(store: Store, workspace: str, environment_id: str) -> None:
    """Remove an environment's work items, poller records and worker credentials (when the environment is deleted)."""
    await store.delete_children(workspace, environment_id, (KIND.type, POLLER_TYPE, *environment_keys.TYPES))


# --- the session runtime's view -------------------------------------------------------------------------------------
LIVE_STATES = ("queued", "starting", "active")


async def for_session(
    store: Store, workspace: str, environment_id: str, session_id: str, states: tuple[str, ...] = LIVE_STATES
) -> list[Record]:
    """The environment's items for ``session_id`` in one of ``states``."""
    query = sa.select(resources).where(
        resources.c.workspace == workspace,
        resources.c.type == KIND.type,
        resources.c.parent_id == environment_id,
        resources.c.doc[("data", "id")].as_string() == session_id,
        resources.c.doc["state"].as_string().in_(states),
    )
    async with store.engine.connect() as conn:
        return [record_of(row) for row in (await conn.execute(query)).all()]


async def stop_for_session(store: Store, workspace: str, environment_id: str, session_id: str) -> None:
    """The session ended (archived, deleted): held items go to ``stopping`` (their worker sees it on its next
    heartbeat), the others to ``stopped``."""
    for record in await for_session(store, workspace, environment_id, session_id, (*LIVE_STATES, "stopping")):
        held = record.doc.get("state") in ("starting", "active")
        try:
            await stop(store, workspace, environment_id, record.id, force=not held)
        except Conflict:  # stopped meanwhile
            continue
