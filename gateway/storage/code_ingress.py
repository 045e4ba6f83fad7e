"""Session ingress (``/v1/session_ingress/session/{id}``, ``/v2/session_ingress/session/{id}/events``) and the
teleport transcript (``/v1/code/sessions/{id}/teleport-events``) over the code sessions' events.

* A transcript entry a client appends (v1 ``PUT``) is stored exactly as a CCR v2 worker's internal event
  (:func:`gateway.storage.code_events.internal`, on :data:`~gateway.storage.code_events.INTERNAL_THREAD` of the
  session's log), so the v1 log read, the teleport pages and ``GET …/worker/internal-events`` read the same rows.
  An entry ``{type: system, subtype: compact_boundary}`` is a compaction boundary (``after_last_compact``).
* Optimistic concurrency: the uuid of the last appended entry is kept in one row per session (type
  ``code_transcript``, id ``ctr_<session id>``). The append's transaction locks that row (``FOR UPDATE``; SQLite has
  one writer) and refuses with 409 and ``x-last-uuid: <stored uuid>`` unless the request's ``Last-Uuid`` names it
  (absent = "no entry yet"); so of two clients that saw the same last entry exactly one appends, in one process or
  across processes on one database. Re-sending the entry that is already the last one is a no-op success (a retry
  whose first answer was lost). Entries without a ``uuid`` (summaries, tags) are stored and do not move it.
* v2 ``POST …/events`` carries SDK stdout messages, stored as a worker's events
  (:func:`gateway.storage.code_events.from_worker`: assistant text → ``agent.message``, ``result`` → idle, the rest
  on the hidden thread), so the code-session viewer and the SDK session see them.
* Session ids: a ``cse_…`` or ``sesn_…`` id (see :mod:`gateway.storage.code_sessions`); any SDK session works."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.errors import Conflict
from gateway.storage import code_events, code_sessions
from gateway.storage.code_stream import sequence
from gateway.storage.session_events import EventLog
from gateway.storage.store import Record, Store
from gateway.storage.tables import events

TYPE = "code_transcript"
LAST_UUID_HEADER = "x-last-uuid"
MAX_PAGE = 1000


def row_id(session_id: str) -> str:
    return f"ctr_{session_id}"


def is_compaction(entry: Mapping[str, Any]) -> bool:
    return entry.get("type") == "system" and entry.get("subtype") == "compact_boundary"


def _conflict(session_id: str, stored: str | None) -> Conflict:
    message = f"Last-Uuid does not name the last transcript entry of session {session_id!r}; refetch and retry"
    return Conflict(message, headers={LAST_UUID_HEADER: stored} if stored else None)


async def _last_uuid_row(store: Store, workspace: str, session_id: str) -> Record:
    """The session's last-uuid row (created with ``last_uuid: null`` on the first append)."""
    found = await store.get(workspace, TYPE, row_id(session_id))
    if found is not None:
        return found
    try:
        return await store.create(workspace, TYPE, row_id(session_id), {"last_uuid": None}, parent_id=session_id)
    except sa.exc.IntegrityError:  # a concurrent first append created it
        again = await store.get(workspace, TYPE, row_id(session_id))
        if again is None:
            raise
        return again


async def append_entry(
    store: Store, workspace: str, session_id: str, entry: Mapping[str, Any], last_uuid: str | None
) -> None:
    """Append one transcript entry if ``last_uuid`` is the stored last uuid (see the module doc)."""
    record = await code_sessions.get(store, workspace, session_id)
    code_sessions.live(record, session_id)
    uuid = entry.get("uuid") if isinstance(entry.get("uuid"), str) else None
    row = await _last_uuid_row(store, workspace, record.id)
    if uuid is not None and row.doc.get("last_uuid") == uuid:
        return  # this very entry is already the last one
    expected = last_uuid or None

    async def check(conn: AsyncConnection) -> None:
        def mutate(current: Record) -> Mapping[str, Any]:
            stored = current.doc.get("last_uuid")
            if stored != expected:
                raise _conflict(session_id, stored)
            return {**current.doc, "last_uuid": uuid or stored}

        await Store.update_within(conn, workspace, TYPE, row_id(record.id), mutate)

    doc = code_events.internal({"payload": dict(entry), "is_compaction": is_compaction(entry)})
    await code_sessions.append(store, workspace, record, [doc], within=check)


def _foreground(docs: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The main agent's entries (a subagent's internal events carry its ``agent_id``)."""
    return [d for d in docs if not (d.get("_internal") or {}).get("agent_id")]


async def loglines(store: Store, workspace: str, session_id: str, *, after_last_compact: bool) -> dict[str, Any]:
    """``{loglines}``: the session's transcript entries, oldest first (from the last compaction boundary on)."""
    record = await code_sessions.get(store, workspace, session_id)
    log = EventLog(store, workspace)
    docs = _foreground(await log.docs(record.id, thread_id=code_events.INTERNAL_THREAD))
    if after_last_compact:
        marks = [i for i, d in enumerate(docs) if (d.get("_internal") or {}).get("is_compaction")]
        docs = docs[marks[-1] :] if marks else docs
    return {"loglines": [dict(d.get("_payload") or {}) for d in docs]}


async def teleport_page(
    store: Store, workspace: str, session_id: str, *, limit: int, cursor: str | None
) -> dict[str, Any]:
    """One page of the transcript as teleport events; ``next_cursor`` only when more may follow."""
    record = await code_sessions.get(store, workspace, session_id)
    size = max(1, min(limit, MAX_PAGE))
    query = (
        sa.select(events.c.seq, events.c.doc)
        .where(
            events.c.workspace == workspace,
            events.c.stream_id == record.id,
            events.c.thread_id == code_events.INTERNAL_THREAD,
            events.c.seq > sequence(cursor, "cursor"),
        )
        .order_by(events.c.seq.asc())
        .limit(size + 1)
    )
    async with store.engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    page = rows[:size]
    out: dict[str, Any] = {"data": [_teleport(doc) for doc in _foreground([r.doc for r in page])]}
    if len(rows) > size:
        out["next_cursor"] = str(page[-1].seq)
    return out


def _teleport(doc: Mapping[str, Any]) -> dict[str, Any]:
    meta = doc.get("_internal") or {}
    payload = doc.get("_payload")
    return {
        "event_id": str(doc.get("id", "")),
        "event_type": str(meta.get("event_type") or "transcript"),
        "is_compaction": bool(meta.get("is_compaction")),
        "payload": dict(payload) if isinstance(payload, Mapping) else None,
        "created_at": doc.get("processed_at"),
    }


async def send_events(store: Store, workspace: str, session_id: str, messages: Sequence[Any]) -> None:
    """v2 ``POST …/events``: SDK stdout messages stored as the session's worker events."""
    record = await code_sessions.get(store, workspace, session_id)
    code_sessions.live(record, session_id)
    if messages:
        await code_sessions.append(store, workspace, record, [code_events.from_worker(m) for m in messages])
