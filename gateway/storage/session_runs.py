"""Session run leases (table ``session_runs``): at most one gateway process runs a session's turn at a time.

A row per session that ever needed a turn. :func:`want` records that the session has work (a user event arrived);
it bumps ``wanted``. A process runs the session only while it holds the lease (:func:`acquire`, an UPDATE that
succeeds for one process: the row is free, its lease expired, or it is already ours) and keeps it alive with
:func:`renew`. When the run finds nothing left to do it calls :func:`release` with the ``wanted`` value it read
*before* it looked at the event log: a request that arrived meanwhile leaves ``wanted > done``, so the session is
still :func:`due` and runs again. A process that dies holding the lease stops renewing it; once ``lease_until``
has passed, :func:`due` lists the session and another process takes it over."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.storage.store import utcnow
from gateway.storage.tables import session_runs as runs


@dataclass(frozen=True, slots=True)
class Lease:
    workspace: str
    session_id: str
    wanted: int


def _free(owner: str) -> sa.ColumnElement[bool]:
    return sa.or_(runs.c.owner.is_(None), runs.c.owner == owner, runs.c.lease_until < utcnow())


def _upsert(engine: AsyncEngine) -> Any:
    """The dialect's INSERT that can say what to do on a conflict (SQLite and PostgreSQL share the syntax)."""
    return postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert


async def want(engine: AsyncEngine, workspace: str, session_id: str) -> None:
    """Record that ``session_id`` needs a turn (one statement: the row is created or its ``wanted`` bumped)."""
    async with engine.begin() as conn:
        await Wish(workspace, session_id)(conn)


@dataclass
class Wish:
    """:func:`want` as a step of another transaction (the one that stores the events that need the turn).

    With an ``owner``, the same statement also takes the lease for it when the lease is free (or already its own):
    the process that stored the events then starts the turn without a separate :func:`acquire`. After the
    transaction, ``lease`` is the lease ``owner`` holds, or None when another live process holds it (its
    :func:`release` then sees ``wanted > done`` and runs the session again)."""

    workspace: str
    session_id: str
    owner: str | None = None
    ttl: float = 0.0
    lease: Lease | None = None

    async def __call__(self, conn: AsyncConnection) -> None:
        now = utcnow()
        until = now + timedelta(seconds=self.ttl) if self.owner is not None else None
        insert = _upsert(conn.engine)(runs).values(
            session_id=self.session_id,
            workspace=self.workspace,
            wanted=1,
            done=0,
            owner=self.owner,
            lease_until=until,
            updated_at=now,
        )
        changes: dict[str, Any] = {"wanted": runs.c.wanted + 1, "updated_at": now}
        if self.owner is not None:
            free = _free(self.owner)
            changes["owner"] = sa.case((free, self.owner), else_=runs.c.owner)
            changes["lease_until"] = sa.case((free, until), else_=runs.c.lease_until)
        bump = insert.on_conflict_do_update(index_elements=[runs.c.session_id], set_=changes)
        row = (await conn.execute(bump.returning(runs.c.owner, runs.c.wanted))).first()
        if self.owner is not None and row is not None and row.owner == self.owner:
            self.lease = Lease(self.workspace, self.session_id, int(row.wanted))


async def acquire(engine: AsyncEngine, session_id: str, owner: str, ttl: float) -> Lease | None:
    """Take (or extend) the lease of a session that has work; None if another live process holds it."""
    async with engine.begin() as conn:
        row = (
            await conn.execute(
                runs.update()
                .where(runs.c.session_id == session_id, _free(owner))
                .values(owner=owner, lease_until=utcnow() + timedelta(seconds=ttl), updated_at=utcnow())
                .returning(runs.c.workspace, runs.c.wanted)
            )
        ).first()
    return None if row is None else Lease(row.workspace, session_id, int(row.wanted))


async def wanted(engine: AsyncEngine, session_id: str) -> int:
    async with engine.connect() as conn:
        return await wanted_within(conn, session_id)


async def wanted_within(conn: AsyncConnection, session_id: str) -> int:
    """:func:`wanted` as a step of another transaction."""
    value = await conn.scalar(sa.select(runs.c.wanted).where(runs.c.session_id == session_id))
    return int(value or 0)


async def renew(engine: AsyncEngine, session_id: str, owner: str, ttl: float) -> bool:
    """Extend our lease; False if we lost it (it expired and another process took it)."""
    async with engine.begin() as conn:
        result = await conn.execute(
            runs.update()
            .where(runs.c.session_id == session_id, runs.c.owner == owner)
            .values(lease_until=utcnow() + timedelta(seconds=ttl), updated_at=utcnow())
        )
    return bool(result.rowcount)


async def release(engine: AsyncEngine, session_id: str, owner: str, seen: int) -> bool:
    """Give the lease back, marking every request up to ``seen`` as served. Returns whether the session still has
    work (a request arrived after ``seen`` was read)."""
    async with engine.begin() as conn:
        row = (
            await conn.execute(
                runs.update()
                .where(runs.c.session_id == session_id, runs.c.owner == owner)
                .values(
                    owner=None,
                    lease_until=None,
                    done=sa.case((runs.c.done > seen, runs.c.done), else_=seen),
                    updated_at=utcnow(),
                )
                .returning(runs.c.wanted, runs.c.done)
            )
        ).first()
    return row is not None and int(row.wanted) > int(row.done)


async def due(engine: AsyncEngine, *, limit: int = 100) -> list[tuple[str, str]]:
    """(workspace, session id) of sessions with work and no live lease: never taken, or their owner died."""
    now = utcnow()
    query = (
        sa.select(runs.c.workspace, runs.c.session_id)
        .where(runs.c.wanted > runs.c.done, sa.or_(runs.c.owner.is_(None), runs.c.lease_until < now))
        .order_by(runs.c.updated_at.asc())
        .limit(limit)
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [(r.workspace, r.session_id) for r in rows]


async def forget(engine: AsyncEngine, session_id: str) -> None:
    """The session is gone: drop its row."""
    async with engine.begin() as conn:
        await conn.execute(runs.delete().where(runs.c.session_id == session_id))
