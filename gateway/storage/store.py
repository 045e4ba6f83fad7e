"""The one place that issues SQL. Resources are rows (id, workspace, type, parent, version, timestamps, a JSON
document); versioned resources also append an immutable snapshot per version. Every read and write is scoped by
workspace: another workspace's row is simply not found."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.errors import Conflict, InvalidRequest, NotFound
from gateway.storage.bus import Bus
from gateway.storage.pagination import bad_cursor, decode_cursor, encode_cursor, page_size
from gateway.storage.tables import resource_versions, resources

_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def new_id(prefix: str) -> str:
    """``<prefix>_01<22 base58 characters>``, the shape of Anthropic's tagged ids."""
    return f"{prefix}_01" + "".join(secrets.choice(_ALPHABET) for _ in range(22))


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def rfc3339(value: datetime | None) -> str | None:
    """A stored (naive UTC) timestamp as RFC 3339 with microseconds and ``Z``."""
    if value is None:
        return None
    return value.isoformat(timespec="microseconds") + "Z"  # (strftime's %Y does not pad years below 1000)


def parse_rfc3339(value: str) -> datetime | None:
    """An RFC 3339 timestamp as naive UTC, or None if it is not one."""
    text = value.strip()
    if text.endswith(("z", "Z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is not None:
        try:
            parsed = parsed.astimezone(UTC).replace(tzinfo=None)
        except OverflowError:  # a valid timestamp within hours of year 1 or 9999: the nearest representable one
            parsed = datetime.min if parsed.year == 1 else datetime.max
    return parsed


MAX_INT = 2**31 - 1
_BOUNDS: dict[str, Callable[[Any, datetime], Any]] = {
    "gt": lambda column, value: column > value,
    "gte": lambda column, value: column >= value,
    "lt": lambda column, value: column < value,
    "lte": lambda column, value: column <= value,
}  # the INTEGER columns' range


def valid_id(value: str) -> bool:
    """Whether ``value`` can name a row at all (a NUL cannot travel to PostgreSQL as text)."""
    return "\x00" not in value


@dataclass(frozen=True)
class Record:
    id: str
    workspace: str
    type: str
    parent_id: str | None
    version: int
    created_at: datetime
    updated_at: datetime
    archived_at: datetime | None
    doc: dict[str, Any]


class StaleVersion(Conflict):
    """The row kept changing between read and write (optimistic concurrency, every attempt lost): a 409, which the
    SDK retries."""

    def __init__(self, id_: str) -> None:
        super().__init__(f"{id_} is being updated concurrently; retry the request")


def record_of(row: Any) -> Record:
    """A ``resources`` row as a :class:`Record`."""
    return Record(
        id=row.id,
        workspace=row.workspace,
        type=row.type,
        parent_id=row.parent_id,
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
        archived_at=row.archived_at,
        doc=dict(row.doc),
    )


class Store:
    """Async resource store over one SQLAlchemy engine."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        #: in-process wake-ups for event streams (see :mod:`gateway.storage.bus`)
        self.bus = Bus()

    # --- writes -----------------------------------------------------------------------------------------------------
    async def create(
        self,
        workspace: str,
        type_: str,
        id_: str,
        doc: Mapping[str, Any],
        *,
        parent_id: str | None = None,
        versioned: bool = False,
    ) -> Record:
        now = utcnow()
        values = {
            "id": id_,
            "workspace": workspace,
            "type": type_,
            "parent_id": parent_id,
            "version": 1,
            "created_at": now,
            "updated_at": now,
            "archived_at": None,
            "doc": dict(doc),
        }
        async with self.engine.begin() as conn:
            await conn.execute(resources.insert().values(**values))
            if versioned:
                await conn.execute(
                    resource_versions.insert().values(resource_id=id_, version=1, created_at=now, doc=dict(doc))
                )
        return Record(**values)  # type: ignore[arg-type]

    async def update(
        self,
        workspace: str,
        type_: str,
        id_: str,
        mutate: Callable[[Record], Awaitable[Mapping[str, Any]]],
        *,
        versioned: bool = False,
        attempts: int = 20,
    ) -> Record | None:
        """Apply ``await mutate(current) -> new doc`` atomically (compare-and-set on ``version``, retried on a race);
        the version increments. None if the row does not exist in ``workspace``. ``mutate`` may raise to refuse."""
        for _ in range(attempts):
            current = await self.get(workspace, type_, id_)
            if current is None:
                return None
            doc = dict(await mutate(current))
            now = max(utcnow(), current.updated_at)
            version = current.version + 1
            async with self.engine.begin() as conn:
                result = await conn.execute(
                    resources.update()
                    .where(resources.c.id == id_, resources.c.workspace == workspace)
                    .where(resources.c.version == current.version)
                    .values(doc=doc, version=version, updated_at=now)
                )
                if result.rowcount != 1:
                    continue
                if versioned:
                    await conn.execute(
                        resource_versions.insert().values(resource_id=id_, version=version, created_at=now, doc=doc)
                    )
            return Record(
                id=id_,
                workspace=workspace,
                type=type_,
                parent_id=current.parent_id,
                version=version,
                created_at=current.created_at,
                updated_at=now,
                archived_at=current.archived_at,
                doc=doc,
            )
        raise StaleVersion(id_)

    async def archive(self, workspace: str, type_: str, id_: str) -> Record | None:
        """Set ``archived_at`` (idempotent: an archived row keeps its first archive time)."""
        if not valid_id(id_):
            return None
        now = utcnow()
        async with self.engine.begin() as conn:
            await conn.execute(
                resources.update()
                .where(resources.c.id == id_, resources.c.workspace == workspace, resources.c.type == type_)
                .where(resources.c.archived_at.is_(None))
                .values(archived_at=now, updated_at=now)
            )
        return await self.get(workspace, type_, id_)

    async def delete(self, workspace: str, type_: str, id_: str) -> bool:
        """Remove the row and its snapshots; False if it does not exist in ``workspace``."""
        if not valid_id(id_):
            return False
        owned = (resources.c.id == id_, resources.c.workspace == workspace, resources.c.type == type_)
        async with self.engine.begin() as conn:
            found = (await conn.execute(sa.select(resources.c.id).where(*owned))).first()
            if found is None:
                return False
            await conn.execute(resource_versions.delete().where(resource_versions.c.resource_id == id_))
            await conn.execute(resources.delete().where(*owned))
        return True

    async def delete_children(self, workspace: str, parent_id: str, types: Sequence[str]) -> None:
        """Remove every row of ``types`` whose parent is ``parent_id`` (no versions are kept for these)."""
        async with self.engine.begin() as conn:
            await conn.execute(
                resources.delete().where(
                    resources.c.workspace == workspace,
                    resources.c.parent_id == parent_id,
                    resources.c.type.in_(list(types)),
                )
            )

    async def delete_tree(self, workspace: str, type_: str, id_: str, child_types: Sequence[str]) -> bool:
        """Remove the row, its children of ``child_types`` (``parent_id`` = the row) and every snapshot of them, in
        one transaction; False if the row does not exist in ``workspace``. The parent row goes first: a concurrent
        write that updates the parent (as memory writes lock their store) waits for this one and then finds
        nothing."""
        if not valid_id(id_):
            return False
        children = sa.select(resources.c.id).where(
            resources.c.workspace == workspace, resources.c.parent_id == id_, resources.c.type.in_(child_types)
        )
        async with self.engine.begin() as conn:
            gone = await conn.execute(
                resources.delete().where(
                    resources.c.id == id_, resources.c.workspace == workspace, resources.c.type == type_
                )
            )
            if gone.rowcount != 1:
                return False
            await conn.execute(resource_versions.delete().where(resource_versions.c.resource_id.in_(children)))
            await conn.execute(
                resources.delete().where(
                    resources.c.workspace == workspace,
                    resources.c.parent_id == id_,
                    resources.c.type.in_(child_types),
                )
            )
            await conn.execute(resource_versions.delete().where(resource_versions.c.resource_id == id_))
        return True

    @staticmethod
    async def update_within(
        conn: AsyncConnection,
        workspace: str,
        type_: str,
        id_: str,
        mutate: Callable[[Record], Mapping[str, Any]],
    ) -> bool:
        """:meth:`update` inside the caller's transaction ``conn`` (the row is locked while ``mutate`` runs, so no
        retry is needed); False if the row does not exist in ``workspace``. No version snapshot is kept."""
        query = sa.select(resources).where(
            resources.c.id == id_, resources.c.workspace == workspace, resources.c.type == type_
        )
        row = (await conn.execute(query.with_for_update())).first()
        if row is None:
            return False
        current = record_of(row)
        doc = dict(mutate(current))
        result = await conn.execute(
            resources.update()
            .where(resources.c.id == id_, resources.c.workspace == workspace)
            .where(resources.c.version == current.version)
            .values(doc=doc, version=current.version + 1, updated_at=max(utcnow(), current.updated_at))
        )
        if result.rowcount != 1:  # cannot happen under the lock; refuse rather than lose a write
            raise StaleVersion(id_)
        return True

    # --- reads ------------------------------------------------------------------------------------------------------
    async def get(self, workspace: str, type_: str, id_: str) -> Record | None:
        if not valid_id(id_):
            return None
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(resources).where(
                        resources.c.id == id_, resources.c.workspace == workspace, resources.c.type == type_
                    )
                )
            ).first()
        return None if row is None else record_of(row)

    async def get_version(self, workspace: str, type_: str, id_: str, version: int) -> tuple[Record, Record] | None:
        """(the resource, its snapshot at ``version`` as a Record) or None."""
        current = await self.get(workspace, type_, id_)
        if current is None or not 1 <= version <= MAX_INT:
            return None
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(resource_versions).where(
                        resource_versions.c.resource_id == id_, resource_versions.c.version == version
                    )
                )
            ).first()
        if row is None:
            return None
        return current, _snapshot(current, row)

    async def list_resources(
        self,
        workspace: str,
        type_: str,
        *,
        limit: int | None = None,
        page: str | None = None,
        include_archived: bool = False,
        parent_id: str | None = None,
        created: Mapping[str, str | None] | None = None,
        where: Sequence[Any] = (),
        predicate: Callable[[Record], bool] | None = None,
        max_limit: int = 100,
        cursor_key: str = "",
    ) -> tuple[list[Record], str | None]:
        """Newest first with ``page`` cursors; returns (records, next cursor or None).

        ``created`` maps ``gt``/``gte``/``lt``/``lte`` to the client's RFC 3339 strings (one that is not a timestamp
        is a 400: the contract types them ``format: date-time``); ``where`` adds SQL conditions on the ``resources``
        table, ``predicate`` a Python one (rows are then read in chunks until the page is full). A cursor continues
        only the list (type, parent, ``cursor_key``) that produced it, else 404 (gateway.storage.pagination)."""
        size = page_size(limit, maximum=max_limit)
        kind = f"{type_}:{parent_id or ''}:{cursor_key}"
        after = decode_cursor(page, kind)
        position = _position(after) if after is not None else None
        query = sa.select(resources).where(resources.c.workspace == workspace, resources.c.type == type_, *where)
        if parent_id is not None:
            query = query.where(resources.c.parent_id == parent_id)
        if not include_archived:
            query = query.where(resources.c.archived_at.is_(None))
        for op, value in (created or {}).items():
            if not value:
                continue
            bound = parse_rfc3339(value)
            if bound is None:
                raise InvalidRequest(f"created_at[{op}]: must be an RFC 3339 timestamp")
            query = query.where(_BOUNDS[op](resources.c.created_at, bound))
        chunk = size + 1 if predicate is None else max(size + 1, 200)
        found: list[Record] = []
        while len(found) <= size:
            step = query
            if position is not None:
                step = step.where(
                    sa.or_(
                        resources.c.created_at < position[0],
                        sa.and_(resources.c.created_at == position[0], resources.c.id < position[1]),
                    )
                )
            step = step.order_by(resources.c.created_at.desc(), resources.c.id.desc()).limit(chunk)
            async with self.engine.connect() as conn:
                rows = (await conn.execute(step)).all()
            for row in rows:
                record = record_of(row)
                if predicate is None or predicate(record):
                    found.append(record)
            if len(rows) < chunk:
                break
            position = (rows[-1].created_at, rows[-1].id)
        records = found[:size]
        next_page = None
        if len(found) > size:
            next_page = encode_cursor(kind, [records[-1].created_at.isoformat(), records[-1].id])
        return records, next_page

    async def list_by_id(
        self,
        workspace: str,
        type_: str,
        *,
        limit: int | None = None,
        after_id: str | None = None,
        before_id: str | None = None,
        parent_id: str | None = None,
        include_archived: bool = True,
        max_limit: int = 1000,
        where: Sequence[Any] = (),
    ) -> tuple[list[Record], bool]:
        """The ``SyncPage`` scheme (newest first): the page after ``after_id`` (older items) or just before
        ``before_id`` (newer items, still returned newest first). Returns (records, has_more). An anchor id that
        names nothing in this list is a 404. ``where`` adds SQLAlchemy conditions on the ``resources`` table."""
        size = page_size(limit, maximum=max_limit)
        query = sa.select(resources).where(resources.c.workspace == workspace, resources.c.type == type_, *where)
        if parent_id is not None:
            query = query.where(resources.c.parent_id == parent_id)
        if not include_archived:
            query = query.where(resources.c.archived_at.is_(None))
        newest_first = (resources.c.created_at.desc(), resources.c.id.desc())
        anchor_id = before_id or after_id
        if anchor_id:
            anchor = await self.get(workspace, type_, anchor_id)
            if anchor is None or (parent_id is not None and anchor.parent_id != parent_id):
                name = "before_id" if before_id else "after_id"
                raise NotFound(f"{name}: {anchor_id!r} does not name an item of this list")
            older = sa.or_(
                resources.c.created_at < anchor.created_at,
                sa.and_(resources.c.created_at == anchor.created_at, resources.c.id < anchor.id),
            )
            newer = sa.or_(
                resources.c.created_at > anchor.created_at,
                sa.and_(resources.c.created_at == anchor.created_at, resources.c.id > anchor.id),
            )
            if before_id:
                # the items just newer than the anchor: read them oldest first, then flip
                query = query.where(newer).order_by(resources.c.created_at.asc(), resources.c.id.asc())
            else:
                query = query.where(older).order_by(*newest_first)
        else:
            query = query.order_by(*newest_first)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query.limit(size + 1))).all()
        records = [record_of(r) for r in rows[:size]]
        if before_id:
            records.reverse()
        return records, len(rows) > size

    async def list_versions(
        self, workspace: str, type_: str, id_: str, *, limit: int | None = None, page: str | None = None
    ) -> tuple[list[Record], str | None] | None:
        """Snapshots of one resource, newest version first; None if the resource does not exist."""
        current = await self.get(workspace, type_, id_)
        if current is None:
            return None
        size = page_size(limit)
        kind = f"versions:{id_}"
        after = decode_cursor(page, kind)
        query = sa.select(resource_versions).where(resource_versions.c.resource_id == id_)
        if after is not None:
            if (
                len(after) != 1
                or not isinstance(after[0], int)
                or isinstance(after[0], bool)
                or abs(after[0]) > MAX_INT
            ):
                raise bad_cursor()
            query = query.where(resource_versions.c.version < after[0])
        query = query.order_by(resource_versions.c.version.desc()).limit(size + 1)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        records = [_snapshot(current, r) for r in rows[:size]]
        next_page = encode_cursor(kind, [records[-1].version]) if len(rows) > size else None
        return records, next_page


def _snapshot(current: Record, row: Any) -> Record:
    """``current`` as it was at the version stored in ``row``."""
    return replace(current, version=row.version, updated_at=row.created_at, doc=dict(row.doc))


def _position(key: list[Any]) -> tuple[datetime, str]:
    if len(key) != 2 or not all(isinstance(k, str) and valid_id(k) for k in key):
        raise bad_cursor()
    try:
        created = datetime.fromisoformat(key[0])
    except ValueError:
        raise bad_cursor() from None
    return created, key[1]
