"""Reading a code session's events: pages for ``GET …/events``, SSE bodies for the viewer's and the worker's
``…/events/stream`` (``event: client_event``, ``id:`` = ``sequence_num``, ``:keepalive`` comments every 15 s), the
worker's internal events. Sequence numbers are the events' positions in the session's log."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import orjson
import sqlalchemy as sa

from gateway.errors import InvalidRequest
from gateway.storage import sessions
from gateway.storage.code_events import CLIENT, INTERNAL_THREAD, render_event
from gateway.storage.session_events import Event, EventLog, tail
from gateway.storage.store import MAX_INT, Record, Store
from gateway.storage.tables import events

KEEPALIVE = b":keepalive\n\n"
PAGE_SIZE = 100


def sequence(value: Any, label: str) -> int:
    """A client's sequence number / cursor (a non-negative integer, possibly as a string); 400 otherwise."""
    if value is None or value == "":
        return 0
    text = str(value).strip()
    if not text.isdigit() or int(text) > MAX_INT:
        raise InvalidRequest(f"{label}: must be a sequence number (a non-negative integer)")
    return int(text)


async def page(
    store: Store, workspace: str, record: Record, code_id: str, *, cursor: str | None, descending: bool
) -> dict[str, Any]:
    """One page of client-visible events after (or, descending, before) ``cursor``."""
    start = sequence(cursor, "cursor")
    query = sa.select(events.c.seq, events.c.doc).where(
        events.c.workspace == workspace, events.c.stream_id == record.id
    )
    if descending:
        query = query.where(events.c.seq < start) if start else query
        query = query.order_by(events.c.seq.desc())
    else:
        query = query.where(events.c.seq > start).order_by(events.c.seq.asc())
    async with store.engine.connect() as conn:
        rows = (await conn.execute(query.limit(PAGE_SIZE + 1))).all()
    data = [e for e in (render_event(int(r.seq), r.doc, code_id) for r in rows[:PAGE_SIZE]) if e is not None]
    more = len(rows) > PAGE_SIZE
    return {"data": data, "next_cursor": str(rows[PAGE_SIZE - 1].seq) if more else None}


def _frame(code_id: str, only_client: bool) -> Callable[[Event], bytes | None]:
    def render(event: Event) -> bytes | None:
        rendered = render_event(event.seq, event.doc, code_id)
        if rendered is None or (only_client and rendered["source"] != CLIENT):
            return None
        return b"event: client_event\nid: %d\ndata: %b\n\n" % (event.seq, orjson.dumps(rendered))

    return render


def open_stream(
    store: Store,
    workspace: str,
    record: Record,
    code_id: str,
    *,
    after: int,
    only_client: bool,
    disconnected: Callable[[], Awaitable[bool]] | None,
) -> AsyncIterator[bytes]:
    """The SSE body: every event after ``after`` (the viewer's: all; the worker's: only clients' events), then new
    ones as they are stored; ends when the session is deleted or terminated."""

    async def alive() -> bool:
        return await store.get(workspace, sessions.KIND.type, record.id) is not None

    return tail(
        EventLog(store, workspace),
        record.id,
        after_seq=after,
        alive=alive,
        disconnected=disconnected,
        render=_frame(code_id, only_client),
        keepalive_frame=KEEPALIVE,
    )


async def internal_events(store: Store, workspace: str, record: Record, *, subagents: bool) -> dict[str, Any]:
    """The worker's internal events: the foreground agent's from its last compaction boundary on, or (``subagents``)
    every other agent's. One page."""
    docs = await EventLog(store, workspace).docs(record.id, thread_id=INTERNAL_THREAD)
    chosen = [d for d in docs if bool((d.get("_internal") or {}).get("agent_id")) == subagents]
    if not subagents:
        marks = [i for i, d in enumerate(chosen) if (d.get("_internal") or {}).get("is_compaction")]
        chosen = chosen[marks[-1] :] if marks else chosen
    return {"data": [_internal(d) for d in chosen]}  # one page: no next_cursor


def _internal(doc: Mapping[str, Any]) -> dict[str, Any]:
    meta = doc.get("_internal") or {}
    out = {
        "event_id": doc.get("id"),
        "event_type": meta.get("event_type") or "transcript",
        "payload": doc.get("_payload") or {},
        "event_metadata": meta.get("event_metadata"),
        "is_compaction": bool(meta.get("is_compaction")),
        "created_at": doc.get("processed_at"),
    }
    if meta.get("agent_id"):
        out["agent_id"] = meta["agent_id"]
    return out
