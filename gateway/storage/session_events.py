"""The session event log (table ``events``): append-only, one ``seq`` per event increasing without gaps per session
(the stream), assigned inside the INSERT itself (``max(seq) + 1``). Two writers racing for the same number collide
on ``unique(stream_id, seq)``; the loser retries with the next one, so concurrent sends never lose or reorder an
event on SQLite or PostgreSQL. Lists page by ``seq``; the SSE stream replays from a ``Last-Event-ID`` and then tails
the table (polling: works across processes, needs no shared state)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, OperationalError

from gateway.errors import Conflict
from gateway.storage.pagination import bad_cursor, clamp_limit, decode_cursor, encode_cursor
from gateway.storage.store import MAX_INT, Store, new_id, rfc3339, utcnow, valid_id
from gateway.storage.tables import events

EVENT_PREFIX = "sevt"
APPEND_ATTEMPTS = 50


@dataclass(frozen=True)
class Event:
    id: str
    seq: int
    doc: dict[str, Any]


def _event(row: Any) -> Event:
    return Event(id=row.id, seq=row.seq, doc=dict(row.doc))


class EventLog:
    """The events of one workspace's streams (a stream is a session id)."""

    def __init__(self, store: Store, workspace: str) -> None:
        self.engine = store.engine
        self.workspace = workspace

    def _owned(self, stream_id: str) -> tuple[Any, ...]:
        return (events.c.workspace == self.workspace, events.c.stream_id == stream_id)

    async def append(
        self, stream_id: str, docs: Sequence[Mapping[str, Any]], *, thread_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Persist ``docs`` in order, each with a new ``id`` (``sevt_…``) and ``processed_at``; returns the stored
        documents. ``thread_id`` is the thread an event without ``session_thread_id`` belongs to."""
        now = utcnow()
        stored = [{**doc, "id": new_id(EVENT_PREFIX), "processed_at": rfc3339(now)} for doc in docs]
        next_seq = (
            sa.select(sa.func.coalesce(sa.func.max(events.c.seq), 0) + 1)
            .where(events.c.stream_id == stream_id)
            .scalar_subquery()
        )
        for attempt in range(APPEND_ATTEMPTS):
            try:
                async with self.engine.begin() as conn:
                    for doc in stored:
                        thread = doc.get("session_thread_id")
                        await conn.execute(
                            events.insert().values(
                                id=doc["id"],
                                workspace=self.workspace,
                                stream_id=stream_id,
                                seq=next_seq,
                                type=str(doc.get("type", "")),
                                thread_id=thread if isinstance(thread, str) else thread_id,
                                created_at=now,
                                doc=doc,
                            )
                        )
                return stored
            except (IntegrityError, OperationalError) as exc:
                if isinstance(exc, OperationalError) and "locked" not in str(exc).lower():
                    raise
                await asyncio.sleep(random.uniform(0, 0.002 * (attempt + 1)))
        raise Conflict(f"{stream_id}: too many concurrent writers; retry the request")

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

    async def after(self, stream_id: str, seq: int, *, thread_id: str | None = None, limit: int = 500) -> list[Event]:
        """The events after position ``seq``, oldest first (of one thread when ``thread_id`` is given)."""
        query = sa.select(events).where(*self._owned(stream_id), events.c.seq > seq)
        if thread_id is not None:
            query = query.where(events.c.thread_id == thread_id)
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
        query = sa.select(events).where(*self._owned(stream_id))
        if thread_id is not None:
            query = query.where(events.c.thread_id == thread_id)
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
        return [e.doc for e in found], next_page

    async def delete_stream(self, stream_id: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(events.delete().where(*self._owned(stream_id)))


KEEPALIVE = b": keep-alive\n\n"


def sse_frame(doc: Mapping[str, Any]) -> bytes:
    """One event as an SSE frame: ``event`` is its type, ``id`` its id (the client's ``Last-Event-ID``)."""
    import orjson

    return (
        b"event: "
        + str(doc.get("type", "message")).encode()
        + b"\nid: "
        + str(doc.get("id", "")).encode()
        + b"\ndata: "
        + orjson.dumps(doc)
        + b"\n\n"
    )


async def tail(
    log: EventLog,
    stream_id: str,
    *,
    after_seq: int,
    thread_id: str | None = None,
    alive: Callable[[], Awaitable[bool]],
    disconnected: Callable[[], Awaitable[bool]] | None = None,
    poll: float = 0.2,
    keepalive: float = 15.0,
    liveness_every: float = 1.0,
) -> AsyncIterator[bytes]:
    """The SSE body: every event after position ``after_seq`` (replay), then new ones as they are appended (the table
    is polled every ``poll`` seconds; a comment every ``keepalive`` seconds of silence). Ends with a
    ``session.deleted`` event when ``alive()`` turns false, or when ``disconnected()`` says the client went away
    (or the response task is cancelled)."""
    seq = after_seq
    quiet = 0.0
    unchecked = 0.0
    while True:
        batch = await log.after(stream_id, seq, thread_id=thread_id)
        if batch:
            yield b"".join(sse_frame(e.doc) for e in batch)
            seq = batch[-1].seq
            quiet = 0.0
            continue
        if unchecked >= liveness_every:
            unchecked = 0.0
            if not await alive():
                yield sse_frame(
                    {"type": "session.deleted", "id": new_id(EVENT_PREFIX), "processed_at": rfc3339(utcnow())}
                )
                return
        if disconnected is not None and await disconnected():
            return
        await asyncio.sleep(poll)
        quiet += poll
        unchecked += poll
        if quiet >= keepalive:
            quiet = 0.0
            yield KEEPALIVE
