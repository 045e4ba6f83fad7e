"""The session event log (table ``events``): append-only, one ``seq`` per event increasing without gaps per session
(the stream), assigned inside the INSERT itself (``max(seq) + 1``). Two writers racing for the same number collide
on ``unique(stream_id, seq)``; the loser retries with the next one, so concurrent sends never lose or reorder an
event on SQLite or PostgreSQL. Lists page by ``seq``; the SSE stream replays from a ``Last-Event-ID`` and then tails
the table: woken at once by this process's own appends (:mod:`gateway.storage.bus`), and polling for the appends of
other gateway processes.

Keys that start with ``_`` are the runtime's private annotations of an event (the model's own content and tool ids);
they are stored but never leave the gateway: :func:`public` strips them from every listed or streamed event."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.errors import Conflict
from gateway.storage.bus import Preview
from gateway.storage.pagination import bad_cursor, clamp_limit, decode_cursor, encode_cursor
from gateway.storage.store import MAX_INT, Store, new_id, rfc3339, utcnow, valid_id
from gateway.storage.tables import events

EVENT_PREFIX = "sevt"
APPEND_ATTEMPTS = 50


#: one event after the stream's last position; cached by SQLAlchemy (a multi-row VALUES statement is compiled anew
#: for every execution, which cost more than the database's own work)
_INSERT = events.insert().values(
    seq=sa.select(sa.func.coalesce(sa.func.max(events.c.seq), 0) + 1)
    .where(events.c.stream_id == sa.bindparam("of_stream", type_=events.c.stream_id.type))
    .scalar_subquery()
)


def _insert_many(rows: Sequence[Mapping[str, Any]]) -> sa.Insert:
    """The multi-row form, for a dialect that would send an executemany as one multi-row statement (where every
    row's subquery sees the same last position): positions after the last one, computed in the statement."""
    last = (
        sa.select(sa.func.coalesce(sa.func.max(events.c.seq), 0))
        .where(events.c.stream_id == rows[0]["stream_id"])
        .scalar_subquery()
    )
    return events.insert().values([{**row, "seq": last + offset + 1} for offset, row in enumerate(rows)])


@dataclass(frozen=True)
class Event:
    id: str
    seq: int
    doc: dict[str, Any]


def _event(row: Any) -> Event:
    return Event(id=row.id, seq=row.seq, doc=dict(row.doc))


#: the events of a child thread that the session's own list and stream show too (the reference §4: its status
#: changes, and its tool calls with their answers, so a worker watching the session serves them)
CROSS_POSTED = (
    "session.thread_status_running",
    "session.thread_status_idle",
    "session.thread_status_rescheduled",
    "session.thread_status_terminated",
    "agent.tool_use",
    "agent.custom_tool_use",
    "agent.mcp_tool_use",
    "agent.tool_result",
    "agent.mcp_tool_result",
    "user.tool_result",
    "user.custom_tool_result",
    "user.tool_confirmation",
)


#: events a parent thread emits about a child (their ``session_thread_id`` is the child's)
PARENT_SIDE = frozenset({"session.thread_created"})


def _view(query: Any, thread_id: str | None, primary: str | None) -> Any:
    """Restrict ``query`` to one thread's events, or (``primary``) to the session's view of them."""
    if thread_id is not None:
        return query.where(events.c.thread_id == thread_id)
    if primary is not None:
        return query.where(
            sa.or_(events.c.thread_id == primary, events.c.thread_id.is_(None), events.c.type.in_(CROSS_POSTED))
        )
    return query


class EventLog:
    """The events of one workspace's streams (a stream is a session id)."""

    def __init__(self, store: Store, workspace: str) -> None:
        self.engine = store.engine
        self.bus = store.bus
        self.workspace = workspace

    def _owned(self, stream_id: str) -> tuple[Any, ...]:
        return (events.c.workspace == self.workspace, events.c.stream_id == stream_id)

    def _prepared(
        self, stream_id: str, docs: Sequence[Mapping[str, Any]], thread_id: str | None, now: datetime
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The documents as stored (with ``id`` and ``processed_at``) and their rows."""
        stored = [{**doc, "id": doc.get("id") or new_id(EVENT_PREFIX), "processed_at": rfc3339(now)} for doc in docs]
        rows = []
        for doc in stored:
            thread = doc.get("session_thread_id") if doc.get("type") not in PARENT_SIDE else None
            rows.append(
                {
                    "id": doc["id"],
                    "workspace": self.workspace,
                    "stream_id": stream_id,
                    "type": str(doc.get("type", "")),
                    "thread_id": thread if isinstance(thread, str) else thread_id,
                    "created_at": now,
                    "doc": doc,
                }
            )
        return stored, rows

    async def append(
        self,
        stream_id: str,
        docs: Sequence[Mapping[str, Any]],
        *,
        thread_id: str | None = None,
        within: Callable[[AsyncConnection], Awaitable[None]] | None = None,
        more: Callable[[AsyncConnection], Awaitable[Sequence[Mapping[str, Any]]]] | None = None,
    ) -> list[dict[str, Any]]:
        """Persist ``docs`` in order, each with its ``id`` (a new ``sevt_…`` unless the runtime chose one, for an event
        it previewed) and ``processed_at``; returns the stored documents. An event belongs to the thread its
        ``session_thread_id`` names, else to ``thread_id`` (so does a :data:`PARENT_SIDE` event, which names the
        child it is about). ``within`` runs in the same transaction after the insert (a status change that must be
        visible exactly when the events are). ``more`` runs first in the transaction and returns events to store
        after ``docs`` (a read that decides them costs no transaction of its own)."""
        now = utcnow()
        stored, rows = self._prepared(stream_id, docs, thread_id, now)
        for attempt in range(APPEND_ATTEMPTS):
            try:
                async with self.engine.begin() as conn:
                    if more is not None:
                        added, added_rows = self._prepared(stream_id, await more(conn), thread_id, now)
                        stored, rows = [*stored[: len(docs)], *added], [*rows[: len(docs)], *added_rows]
                    if rows and conn.dialect.use_insertmanyvalues_wo_returning:
                        await conn.execute(_insert_many(rows))
                    elif rows:
                        # one row after another (an executemany): each row's position follows the one before it;
                        # a concurrent writer that took the same position makes this fail on the unique
                        # (stream_id, seq), and the append retries
                        await conn.execute(_INSERT, [{**row, "of_stream": stream_id} for row in rows])
                    if within is not None:
                        await within(conn)
                self.bus.stored(stream_id)
                return stored
            except (IntegrityError, OperationalError) as exc:
                if isinstance(exc, OperationalError) and "locked" not in str(exc).lower():
                    raise
                await asyncio.sleep(random.uniform(0, 0.002 * (attempt + 1)))
        raise Conflict(f"{stream_id}: too many concurrent writers; retry the request")

    async def docs(
        self, stream_id: str, *, types: Sequence[str] = (), thread_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Every event of the stream (private annotations included), oldest first; only ``types`` and only one
        thread's when given."""
        query = sa.select(events.c.doc).where(*self._owned(stream_id))
        if thread_id is not None:
            query = query.where(events.c.thread_id == thread_id)
        if types:
            query = query.where(events.c.type.in_(list(types)))
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query.order_by(events.c.seq.asc()))).all()
        return [dict(r.doc) for r in rows]

    async def seq_of(self, stream_id: str, event_id: str) -> int | None:
        """The position of ``event_id`` in the stream (None if it is not one of its events)."""
        if not valid_id(event_id):
            return None
        async with self.engine.connect() as conn:
            value = await conn.scalar(sa.select(events.c.seq).where(*self._owned(stream_id), events.c.id == event_id))
        return None if value is None else int(value)

    async def last_seq(self, stream_id: str) -> int:
        async with self.engine.connect() as conn:
            value = await conn.scalar(sa.select(sa.func.max(events.c.seq)).where(*self._owned(stream_id)))
        return int(value or 0)

    async def after(
        self,
        stream_id: str,
        seq: int,
        *,
        thread_id: str | None = None,
        primary: str | None = None,
        limit: int = 500,
    ) -> list[Event]:
        """The events after position ``seq``, oldest first (of one thread when ``thread_id`` is given; the session's
        view when ``primary`` names its primary thread)."""
        query = _view(sa.select(events).where(*self._owned(stream_id), events.c.seq > seq), thread_id, primary)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query.order_by(events.c.seq.asc()).limit(limit))).all()
        return [_event(r) for r in rows]

    async def page(
        self,
        stream_id: str,
        *,
        limit: int | None,
        page: str | None,
        order: str = "asc",
        types: Sequence[str] = (),
        thread_id: str | None = None,
        primary: str | None = None,
        gt: datetime | None = None,
        gte: datetime | None = None,
        lt: datetime | None = None,
        lte: datetime | None = None,
        default_limit: int = 1000,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of the stream in ``order`` (by position): (event documents, next cursor or None)."""
        size = clamp_limit(limit, default=default_limit, maximum=1000)
        descending = order == "desc"
        kind = f"events:{stream_id}:{thread_id or ''}:{order}"
        after = decode_cursor(page, kind)
        query = _view(sa.select(events).where(*self._owned(stream_id)), thread_id, primary)
        if types:
            query = query.where(events.c.type.in_(list(types)))
        for bound, op in ((gt, "gt"), (gte, "ge"), (lt, "lt"), (lte, "le")):
            if bound is not None:
                query = query.where(getattr(events.c.created_at, f"__{op}__")(bound))
        if after is not None:
            if (
                len(after) != 1
                or not isinstance(after[0], int)
                or isinstance(after[0], bool)
                or abs(after[0]) > MAX_INT
            ):
                raise bad_cursor()
            query = query.where(events.c.seq < after[0] if descending else events.c.seq > after[0])
        key = events.c.seq.desc() if descending else events.c.seq.asc()
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query.order_by(key).limit(size + 1))).all()
        found = [_event(r) for r in rows[:size]]
        next_page = encode_cursor(kind, [found[-1].seq]) if len(rows) > size else None
        return [public(e.doc) for e in found], next_page

    async def delete_stream(self, stream_id: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(events.delete().where(*self._owned(stream_id)))
        self.bus.stored(stream_id)


def public(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The event as clients see it: without the runtime's ``_`` annotations."""
    return {k: v for k, v in doc.items() if not k.startswith("_")}


KEEPALIVE = b": keep-alive\n\n"
#: the events after which a stream ends (the session is gone or can never run again)
FINAL_TYPES = frozenset({"session.deleted", "session.status_terminated"})


def sse_frame(doc: Mapping[str, Any]) -> bytes:
    """One event as an SSE frame: ``event`` is its type, ``id`` its id (the client's ``Last-Event-ID``). Preview
    frames (``event_start`` / ``event_delta``) carry no ``id`` line: they are not events of the log."""
    kind = str(doc.get("type", "message")).encode()
    ident = doc.get("id")
    id_line = b"\nid: " + str(ident).encode() if ident is not None and not kind.startswith(b"event_") else b""
    return b"event: " + kind + id_line + b"\ndata: " + orjson.dumps(public(doc)) + b"\n\n"


def _merged(batch: Sequence[Event], previews: list[Preview]) -> list[bytes]:
    """Stored events and previews in an order the SDK's accumulator accepts: the previews of an event always come
    before that event (a preview published before the final event was stored may be read after it)."""
    frames: list[bytes] = []
    pending = list(previews)
    for event in batch:
        own = [p for p in pending if p.event_id == event.id]
        if own:
            pending = [p for p in pending if p.event_id != event.id]
            frames.extend(sse_frame(p.doc) for p in own)
        frames.append(sse_frame(event.doc))
    frames.extend(sse_frame(p.doc) for p in pending)
    return frames


async def tail(
    log: EventLog,
    stream_id: str,
    *,
    after_seq: int,
    thread_id: str | None = None,
    primary: str | None = None,
    alive: Callable[[], Awaitable[bool]],
    disconnected: Callable[[], Awaitable[bool]] | None = None,
    previews: frozenset[str] = frozenset(),
    poll: float = 0.25,
    keepalive: float = 15.0,
    liveness_every: float = 1.0,
    render: Callable[[Event], bytes | None] | None = None,
    keepalive_frame: bytes = KEEPALIVE,
) -> AsyncIterator[bytes]:
    """The SSE body: every event after position ``after_seq`` (replay), then new ones as they are appended (woken by
    this process's appends, else the table is polled every ``poll`` seconds; a comment every ``keepalive`` seconds
    of silence), with the previews of ``previews`` types. Ends after a ``session.status_terminated`` event, with a
    ``session.deleted`` event when ``alive()`` turns false, or when ``disconnected()`` says the client went away (or
    the response task is cancelled). ``render``: another wire format (one frame per event or None to skip it, no
    previews, no ``session.deleted`` frame), with ``keepalive_frame`` as its comment."""
    loop = asyncio.get_running_loop()
    sub = log.bus.subscribe(stream_id, previews if thread_id is None else frozenset())
    seq = after_seq
    carried: list[Preview] = []  # a preview that woke us, read before the drain
    last_frame = last_check = loop.time()
    try:
        while True:
            batch = await log.after(stream_id, seq, thread_id=thread_id, primary=primary)
            if render is None:
                frames = _merged(batch, [*carried, *sub.drain()])
            else:
                sub.drain()
                frames = [f for f in map(render, batch) if f is not None]
            carried = []
            if batch:
                seq = batch[-1].seq
            if frames:
                yield b"".join(frames)
                last_frame = loop.time()
            if any(e.doc.get("type") in FINAL_TYPES for e in batch):
                return
            if frames or batch:
                continue
            now = loop.time()
            if now - last_check >= liveness_every:
                last_check = now
                if not await alive():
                    if render is not None:
                        return
                    yield sse_frame(
                        {"type": "session.deleted", "id": new_id(EVENT_PREFIX), "processed_at": rfc3339(utcnow())}
                    )
                    return
                if disconnected is not None and await disconnected():
                    return
            if now - last_frame >= keepalive:
                last_frame = now
                yield keepalive_frame
            try:
                item = await asyncio.wait_for(sub.queue.get(), timeout=poll)
            except TimeoutError:
                continue
            if item is not None:
                carried.append(item)
    finally:
        log.bus.unsubscribe(sub)
