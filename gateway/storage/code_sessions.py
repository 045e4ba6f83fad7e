"""Code sessions (``/v1/code/sessions*``): a second wire format over the SDK sessions.

* A code session **is** an SDK session. Its id is the session's with ``cse_`` instead of ``sesn_``
  (``cse_01abc…`` is ``sesn_01abc…``); every code-session path accepts either form.
* Create stores an SDK session whose agent is the workspace's "Claude Code sessions" agent (no tools) with the
  config's model as an override; ``config``, ``tags`` and the ``bridge`` marker are kept privately in ``_code``.
  Without ``environment_id`` the session lives on the workspace's "claude-code-sessions" cloud environment (the
  env-less bridge); with the id of a bridge (self-hosted) environment it is queued there as a work item.
* Events are the session's events. ``sequence_num`` is the event's position in the log. What a code client sent
  (its SDK-message ``payload``) is kept privately in ``_payload``; events the SDK's union knows are stored under
  their SDK type (a ``user`` message → ``user.message``, an assistant message with text → ``agent.message``, a
  ``result`` → ``session.status_idle``), the rest under :data:`HIDDEN_THREAD`, a thread the SDK view never shows.
  :mod:`gateway.storage.code_events` renders events back as SDK messages."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.errors import Conflict, InvalidRequest, NotFound
from gateway.storage import agents, code_workers, sessions
from gateway.storage.code_events import render_session
from gateway.storage.session_events import EventLog
from gateway.storage.store import Record, Store, rfc3339, utcnow
from gateway.storage.tables import events

CODE_PREFIX = "cse_"
SESSION_PREFIX = sessions.KIND.prefix + "_"
AGENT_NAME = "Claude Code sessions"
ENVIRONMENT_NAME = "claude-code-sessions"
DEFAULT_MODEL = "claude-opus-5-5"
#: seconds after which a viewer reports its presence again; a viewer counts as present for twice as long
PRESENCE_REFRESH = 30


def session_id_of(code_id: str) -> str:
    """The SDK session id a code-session path names (``cse_…`` or ``sesn_…``)."""
    if code_id.startswith(CODE_PREFIX):
        return SESSION_PREFIX + code_id[len(CODE_PREFIX) :]
    return code_id


def code_id_of(session_id: str) -> str:
    return CODE_PREFIX + session_id.removeprefix(SESSION_PREFIX)


def _fixed_id(prefix: str, workspace: str) -> str:
    return f"{prefix}_ccs{hashlib.sha256(workspace.encode()).hexdigest()[:24]}"


async def _agent(store: Store, workspace: str) -> str:
    """The workspace's agent for code sessions (created on first use): no tools; the model is set per session."""
    agent_id = _fixed_id(agents.KIND.prefix, workspace)
    if await store.get(workspace, agents.TYPE, agent_id) is None:
        doc: dict[str, Any] = {
            "name": AGENT_NAME,
            "description": "Created by the gateway for /v1/code/sessions (its turns run on a bridge worker, or here)",
            "system": None,
            "model": {"id": DEFAULT_MODEL},
            "tools": [],
            "mcp_servers": [],
            "skills": [],
            "metadata": {},
        }
        try:
            await store.create(workspace, agents.TYPE, agent_id, doc, versioned=True)
        except IntegrityError:  # a concurrent create won
            pass
    return agent_id


async def _environment(store: Store, workspace: str) -> str:
    """The workspace's environment of env-less code sessions (a cloud environment, created on first use)."""
    environment_id = _fixed_id("env", workspace)
    if await store.get(workspace, "environment", environment_id) is None:
        doc = {
            "name": ENVIRONMENT_NAME,
            "description": "Env-less code sessions (POST /v1/code/sessions without environment_id)",
            "config": {"type": "cloud", "networking": {"type": "unrestricted"}, "packages": {"type": "packages"}},
            "metadata": {},
            "scope": None,
        }
        try:
            await store.create(workspace, "environment", environment_id, doc)
        except IntegrityError:
            pass
    return environment_id


async def create(
    store: Store, workspace: str, body: Mapping[str, Any], *, identity: Mapping[str, str] | None = None
) -> Record:
    """Store the SDK session behind a new code session; returns its record."""
    if not isinstance(body.get("bridge"), Mapping):
        raise InvalidRequest("bridge: the runner marker `bridge: {}` is required")
    config = dict(body.get("config") or {})
    environment_id = body.get("environment_id")
    if environment_id in (None, ""):
        environment_id = await _environment(store, workspace)
    model = config.get("model") or DEFAULT_MODEL
    agent = {"type": "agent_with_overrides", "id": await _agent(store, workspace), "model": str(model)}
    title = body.get("title")
    created = await sessions.create(
        store,
        workspace,
        {"agent": agent, "environment_id": str(environment_id), "title": title, "metadata": {}},
        identity=identity,
    )
    code = {"config": config, "tags": [str(t) for t in body.get("tags") or []], "bridge": dict(body["bridge"])}

    def mark(current: Record) -> dict[str, Any]:
        return {**current.doc, "_code": code}

    return await sessions.KIND.update(store, workspace, str(created["id"]), mark)


async def get(store: Store, workspace: str, code_id: str) -> Record:
    return await sessions.KIND.get(store, workspace, session_id_of(code_id))


def response(record: Record, worker: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The code session as ``/v1/code/sessions`` renders it (``ClaudeAiCodeSession``)."""
    return render_session(record, code_id_of(record.id), worker)


async def rename(store: Store, workspace: str, code_id: str, title: str) -> Record:
    await sessions.update(store, workspace, session_id_of(code_id), {"title": title})
    return await get(store, workspace, code_id)


async def archive(store: Store, workspace: str, code_id: str) -> Record:
    """Archive (409 when it already is: the client treats that as success). Unlike the SDK's archive, a running
    session is archived too (the caller stops its turn)."""
    record = await get(store, workspace, code_id)
    if record.archived_at is not None:
        raise Conflict(f"code session {code_id!r} is already archived")
    await sessions.KIND.archive(store, workspace, record.id)
    return await get(store, workspace, code_id)


async def list_all(store: Store, workspace: str) -> list[Record]:
    """Every session of the workspace that was created as a code session, newest first (one page, as observed)."""
    found: list[Record] = []
    cursor: str | None = None
    while True:
        records, cursor = await store.list_resources(
            workspace,
            sessions.KIND.type,
            limit=100,
            page=cursor,
            include_archived=True,
            cursor_key="code",
            predicate=lambda r: isinstance(r.doc.get("_code"), Mapping),
        )
        found.extend(records)
        if cursor is None:
            return found


def live(record: Record, code_id: str) -> None:
    if record.archived_at is not None:
        raise Conflict(f"code session {code_id!r} is archived and accepts no events")


def require_code(record: Record | None, code_id: str) -> Record:
    if record is None:
        raise NotFound(f"code session {code_id!r} not found")
    return record


Step = Callable[[AsyncConnection], Awaitable[None]]


def _steps(*steps: Step | None) -> Step | None:
    """Several steps of one transaction as one (None when there are none)."""
    chosen = [s for s in steps if s is not None]
    if not chosen:
        return None

    async def apply(conn: AsyncConnection) -> None:
        for step in chosen:
            await step(conn)

    return apply


async def append(
    store: Store, workspace: str, record: Record, docs: Sequence[Mapping[str, Any]], *, within: Step | None = None
) -> list[dict[str, Any]]:
    """Store translated events (private annotations kept) on the session's log; ``within``: more steps of the
    transaction (the worker's epoch check, the runtime's wish to run). A ``session.status_idle`` / ``running``
    among them sets the session's status in the same transaction."""
    statuses = [str(d["type"]).removeprefix("session.status_") for d in docs if d.get("type") in _STATUS_EVENTS]
    progress = sessions.progress_within(workspace, record.id, status=statuses[-1]) if statuses else None
    log = EventLog(store, workspace)
    stored = await log.append(record.id, docs, thread_id=record.doc["_thread"]["id"], within=_steps(within, progress))
    if await store.get(workspace, sessions.KIND.type, record.id) is None:  # deleted meanwhile: no orphan events
        await log.delete_stream(record.id)
        raise sessions.KIND.not_found(record.id)
    return stored


_STATUS_EVENTS = ("session.status_idle", "session.status_running")


async def worker_append(
    store: Store,
    workspace: str,
    code_id: str,
    epoch: Any,
    docs: Sequence[Mapping[str, Any]],
    change: Callable[[dict[str, Any]], None] | None = None,
) -> None:
    """A worker's events, stored only if ``epoch`` is the session's current worker epoch (409 otherwise, checked in
    the storing transaction, which also applies ``change`` to the worker's state); with no events the epoch is
    checked all the same. A payload whose ``uuid`` the session already has is a retry and is not stored again."""
    record = await get(store, workspace, code_id)
    docs = await _unseen(store, workspace, record.id, docs)
    if not docs:
        await code_workers.write(store, workspace, record.id, epoch, change)
        return
    check = code_workers.check_within(workspace, record.id, epoch, change)
    await append(store, workspace, record, docs, within=check)


async def _unseen(
    store: Store, workspace: str, session_id: str, docs: Sequence[Mapping[str, Any]]
) -> list[Mapping[str, Any]]:
    uuids = {str(d["_payload"]["uuid"]) for d in docs if isinstance((d.get("_payload") or {}).get("uuid"), str)}
    if not uuids:
        return list(docs)
    query = sa.select(events.c.doc[("_payload", "uuid")].as_string()).where(
        events.c.workspace == workspace,
        events.c.stream_id == session_id,
        events.c.doc[("_payload", "uuid")].as_string().in_(sorted(uuids)),
    )
    async with store.engine.connect() as conn:
        seen = {str(v) for v in (await conn.scalars(query)).all()}
    out, kept = [], set()
    for doc in docs:
        uuid = (doc.get("_payload") or {}).get("uuid")
        if isinstance(uuid, str) and (uuid in seen or uuid in kept):
            continue
        if isinstance(uuid, str):
            kept.add(uuid)
        out.append(doc)
    return out


async def presence(store: Store, workspace: str, code_id: str, client_id: str, *, clear: bool) -> int:
    """Record (or clear) a viewer's presence; returns when it should report again."""
    now = utcnow()
    until = rfc3339(now + timedelta(seconds=2 * PRESENCE_REFRESH))

    def change(current: Record) -> dict[str, Any]:
        code = dict(current.doc.get("_code") or {})
        present = {k: v for k, v in dict(code.get("presence") or {}).items() if str(v) > (rfc3339(now) or "")}
        if clear:
            present.pop(client_id, None)
        else:
            present[client_id] = until
        return {**current.doc, "_code": {**code, "presence": present}}

    await sessions.KIND.update(store, workspace, (await get(store, workspace, code_id)).id, change, allow_archived=True)
    return PRESENCE_REFRESH


async def mark_read(store: Store, workspace: str, code_id: str, event_id: str | None) -> Record:
    """Set the read marker to ``event_id`` (an event of the session, else 404) or to the newest event."""
    record = await get(store, workspace, code_id)
    log = EventLog(store, workspace)
    if event_id:
        if await log.seq_of(record.id, event_id) is None:
            raise NotFound(f"event {event_id!r} of code session {code_id!r} not found")
        marker: str | None = event_id
    else:
        newest = await log.after(record.id, max(await log.last_seq(record.id) - 1, 0), limit=1)
        marker = newest[0].id if newest else None

    def change(current: Record) -> dict[str, Any]:
        code = dict(current.doc.get("_code") or {})
        return {**current.doc, "_code": {**code, "last_read_event_id": marker}}

    return await sessions.KIND.update(store, workspace, record.id, change, allow_archived=True)
