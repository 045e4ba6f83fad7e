"""Session run leases on SQLite and PostgreSQL: the wish that a request records with its events takes the lease for
its process when the lease is free, expired or already that process's own, and never from a live other owner."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.errors import NotFound
from gateway.storage import session_runs, sessions
from gateway.storage.config import parse_storage
from gateway.storage.db import create_engine, migrate
from gateway.storage.session_events import EventLog
from gateway.storage.store import Store
from gateway.storage.tables import session_runs as runs


async def _owner(engine: Any, session_id: str) -> str | None:
    async with engine.connect() as conn:
        value = await conn.scalar(sa.select(runs.c.owner).where(runs.c.session_id == session_id))
    return None if value is None else str(value)


async def _wish(engine: Any, owner: str | None, ttl: float = 30) -> session_runs.Wish:
    wish = session_runs.Wish("ws", "sesn_1", owner, ttl)
    async with engine.begin() as conn:
        await wish(conn)
    return wish


def test_a_wish_takes_only_a_free_lease(database: dict[str, Any]) -> None:
    async def run() -> None:
        config = parse_storage({"storage": database})
        engine = create_engine(config)
        await migrate(engine, config)
        try:
            plain = await _wish(engine, None)  # no owner: the wish is recorded, nobody takes the lease
            assert plain.lease is None and await _owner(engine, "sesn_1") is None
            assert await session_runs.wanted(engine, "sesn_1") == 1

            first = await _wish(engine, "proc-a")  # free: taken, with the count that includes this wish
            assert first.lease == session_runs.Lease("ws", "sesn_1", 2)
            assert await _owner(engine, "sesn_1") == "proc-a"

            other = await _wish(engine, "proc-b")  # a live other owner keeps it; the wish still counts
            assert other.lease is None and await _owner(engine, "sesn_1") == "proc-a"
            assert await session_runs.wanted(engine, "sesn_1") == 3

            again = await _wish(engine, "proc-a")  # already ours: kept (the running task runs it again)
            assert again.lease == session_runs.Lease("ws", "sesn_1", 4)

            assert not await session_runs.release(engine, "sesn_1", "proc-a", 4)  # nothing left after 4
            freed = await _wish(engine, "proc-b")  # released: the next wish's process takes it
            assert freed.lease == session_runs.Lease("ws", "sesn_1", 5)
            assert await session_runs.due(engine) == []  # held by a live owner: no sweeper takes it

            await _wish(engine, "proc-b", ttl=-1)  # proc-b's lease now lies in the past, as if it had died
            assert await session_runs.due(engine) == [("ws", "sesn_1")]
            taken = await _wish(engine, "proc-a")
            assert taken.lease is not None and await _owner(engine, "sesn_1") == "proc-a"
        finally:
            await engine.dispose()

    asyncio.run(run())


def test_a_step_decides_its_idle_in_its_own_transaction(database: dict[str, Any]) -> None:
    """``EventLog.append(more=…)``: the runtime reads the ``wanted`` count in the transaction that stores a step's
    events and adds the turn's idle only when no client event arrived since it read the log."""

    async def run() -> None:
        config = parse_storage({"storage": database})
        engine = create_engine(config)
        await migrate(engine, config)
        log = EventLog(Store(engine), "ws")
        idle = {"type": "session.status_idle", "stop_reason": {"type": "end_turn"}}
        seen: list[int] = []

        async def unless_wanted(conn: AsyncConnection) -> list[dict[str, Any]]:
            seen.append(await session_runs.wanted_within(conn, "sesn_1"))
            return [idle] if seen[-1] == 1 else []

        try:
            await _wish(engine, "proc-a")  # wanted = 1: the log the step planned from
            step = [{"type": "agent.message", "content": []}, {"type": "span.model_request_end"}]
            stored = await log.append("sesn_1", step, thread_id="sthr_1", more=unless_wanted)
            assert [e["type"] for e in stored] == ["agent.message", "span.model_request_end", "session.status_idle"]
            assert len({e["processed_at"] for e in stored}) == 1 and all(e["id"].startswith("sevt_") for e in stored)

            await _wish(engine, "proc-a")  # a client event arrived meanwhile: no idle, the run plans again
            stored = await log.append("sesn_1", step, thread_id="sthr_1", more=unless_wanted)
            assert [e["type"] for e in stored] == ["agent.message", "span.model_request_end"]
            docs = await log.docs("sesn_1")
            assert [e["type"] for e in docs] == [*(e["type"] for e in step), "session.status_idle"] + [
                e["type"] for e in step
            ]
            assert seen == [1, 2]
        finally:
            await engine.dispose()

    asyncio.run(run())


def test_events_sent_to_a_session_deleted_meanwhile_are_not_stored(database: dict[str, Any]) -> None:
    """A request that read the session before a concurrent delete stores nothing (the check runs in the transaction
    that stores its events) and answers 404; the wish it carried is not recorded either."""

    async def run() -> None:
        config = parse_storage({"storage": database})
        engine = create_engine(config)
        await migrate(engine, config)
        store = Store(engine)
        try:
            doc = {"id": "sesn_gone", "type": "session", "_thread": {"id": "sthr_gone"}}
            record = await store.create("ws", sessions.KIND.type, "sesn_gone", doc)
            body = {"events": [{"type": "user.message", "content": [{"type": "text", "text": "hi"}]}]}
            sent = await sessions.send_events(store, "ws", "sesn_gone", body, current=record)
            assert [e["type"] for e in sent["data"]] == ["user.message"]

            await store.delete("ws", sessions.KIND.type, "sesn_gone")  # the delete wins the race
            wish = session_runs.Wish("ws", "sesn_gone", "proc-a", 30)
            with pytest.raises(NotFound):
                await sessions.send_events(store, "ws", "sesn_gone", body, current=record, within=wish)
            assert len(await EventLog(store, "ws").docs("sesn_gone")) == 1  # only the first request's
            assert wish.lease is None and await session_runs.wanted(engine, "sesn_gone") == 0
        finally:
            await engine.dispose()

    asyncio.run(run())
