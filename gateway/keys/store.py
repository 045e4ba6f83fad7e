"""Virtual keys and spend rows in the database (the storage's engine; SQLite or PostgreSQL)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.keys import spend_writer
from gateway.keys.model import VirtualKey
from gateway.keys.spend_writer import SpendRow as SpendRow  # re-exported: the row type callers know from here
from gateway.keys.tables import spend_logs, virtual_keys
from gateway.storage.store import new_id, utcnow

#: The columns ``/key/update`` may change.
UPDATABLE = (
    "key_name",
    "workspace",
    "models",
    "max_budget",
    "budget_duration",
    "rpm_limit",
    "tpm_limit",
    "expires",
    "metadata",
    "blocked",
)


@dataclass(frozen=True)
class SpendFilter:
    key_id: str | None = None
    workspace: str | None = None
    model: str | None = None
    start: datetime | None = None
    end: datetime | None = None


def _key_of(row: Any) -> VirtualKey:
    return VirtualKey(
        id=row.id,
        key_hash=row.key_hash,
        key_preview=row.key_preview,
        key_name=row.key_name,
        workspace=row.workspace,
        models=tuple(row.models or ()),
        max_budget=row.max_budget,
        budget_duration=row.budget_duration,
        rpm_limit=row.rpm_limit,
        tpm_limit=row.tpm_limit,
        expires=row.expires,
        metadata=dict(row.metadata or {}),
        blocked=bool(row.blocked),
        spend=float(row.spend or 0.0),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class KeyStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def create(self, digest: str, shown: str, values: Mapping[str, Any]) -> VirtualKey:
        now = utcnow()
        row = {
            "id": new_id("key"),
            "key_hash": digest,
            "key_preview": shown,
            "key_name": values.get("key_name"),
            "workspace": values.get("workspace") or "default",
            "models": list(values.get("models") or ()),
            "max_budget": values.get("max_budget"),
            "budget_duration": values.get("budget_duration"),
            "rpm_limit": values.get("rpm_limit"),
            "tpm_limit": values.get("tpm_limit"),
            "expires": values.get("expires"),
            "metadata": dict(values.get("metadata") or {}),
            "blocked": bool(values.get("blocked", False)),
            "spend": 0.0,
            "created_at": now,
            "updated_at": now,
        }
        async with self.engine.begin() as conn:
            await conn.execute(virtual_keys.insert().values(**row))
        return _key_of(_Obj(row))

    async def by_hash(self, digest: str) -> VirtualKey | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(virtual_keys.select().where(virtual_keys.c.key_hash == digest))).first()
        return None if row is None else _key_of(row)

    async def get(self, key_id: str) -> VirtualKey | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(virtual_keys.select().where(virtual_keys.c.id == key_id))).first()
        return None if row is None else _key_of(row)

    async def update(self, key_id: str, values: Mapping[str, Any]) -> VirtualKey | None:
        changes = {k: v for k, v in values.items() if k in UPDATABLE}
        if "models" in changes:
            changes["models"] = list(changes["models"] or ())
        async with self.engine.begin() as conn:
            result = await conn.execute(
                virtual_keys.update().where(virtual_keys.c.id == key_id).values(**changes, updated_at=utcnow())
            )
            if result.rowcount == 0:
                return None
        return await self.get(key_id)

    async def delete(self, key_ids: Sequence[str]) -> list[str]:
        """Delete the keys; returns the ids that existed. Their spend rows stay (history)."""
        async with self.engine.begin() as conn:
            found = (await conn.execute(sa.select(virtual_keys.c.id).where(virtual_keys.c.id.in_(key_ids)))).all()
            await conn.execute(virtual_keys.delete().where(virtual_keys.c.id.in_(key_ids)))
        return [r.id for r in found]

    async def page(self, workspace: str | None, page: int, size: int) -> tuple[list[VirtualKey], int]:
        query = virtual_keys.select()
        count = sa.select(sa.func.count()).select_from(virtual_keys)
        if workspace is not None:
            query = query.where(virtual_keys.c.workspace == workspace)
            count = count.where(virtual_keys.c.workspace == workspace)
        query = query.order_by(virtual_keys.c.created_at, virtual_keys.c.id).offset((page - 1) * size).limit(size)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
            total = int((await conn.execute(count)).scalar_one())
        return [_key_of(r) for r in rows], total

    # -- spend ---------------------------------------------------------------------------------------------------
    async def write_spend(self, rows: Sequence[SpendRow]) -> None:
        """Insert the rows and advance each virtual key's lifetime spend, in one transaction."""
        await spend_writer.write(self.engine, rows)

    async def spend_since(self, key_id: str, start: datetime | None) -> float:
        query = sa.select(sa.func.coalesce(sa.func.sum(spend_logs.c.cost), 0.0)).where(spend_logs.c.key_id == key_id)
        if start is not None:
            query = query.where(spend_logs.c.created_at >= start)
        async with self.engine.connect() as conn:
            return float((await conn.execute(query)).scalar_one())

    def _where(self, query: Any, where: SpendFilter) -> Any:
        c = spend_logs.c
        for column, value in ((c.key_id, where.key_id), (c.workspace, where.workspace), (c.model, where.model)):
            if value is not None:
                query = query.where(column == value)
        if where.start is not None:
            query = query.where(c.created_at >= where.start)
        if where.end is not None:
            query = query.where(c.created_at < where.end)
        return query

    async def spend_logs(self, where: SpendFilter, limit: int) -> list[SpendRow]:
        query = self._where(spend_logs.select(), where).order_by(spend_logs.c.created_at.desc()).limit(limit)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [SpendRow(**row._asdict()) for row in rows]

    async def totals(self, where: SpendFilter, by: Sequence[str]) -> list[dict[str, Any]]:
        """Sums of tokens and cost over the matching rows, grouped by ``by`` (columns of spend_logs)."""
        c = spend_logs.c
        groups = [c[name] for name in by]
        query = sa.select(
            *groups,
            sa.func.count().label("requests"),
            sa.func.sum(c.input_tokens).label("input_tokens"),
            sa.func.sum(c.output_tokens).label("output_tokens"),
            sa.func.sum(c.cache_creation_input_tokens).label("cache_creation_input_tokens"),
            sa.func.sum(c.cache_read_input_tokens).label("cache_read_input_tokens"),
            sa.func.sum(c.cost).label("cost"),
        )
        query = self._where(query, where)
        if groups:
            query = query.group_by(*groups).order_by(*groups)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        out = []
        for row in rows:
            item = row._asdict()
            if not item["requests"]:
                continue
            for name in ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"):
                item[name] = int(item[name] or 0)
            item["cost"] = float(item["cost"] or 0.0)
            out.append(item)
        return out


class _Obj:
    """Attribute access over a dict (a freshly inserted row)."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self.__dict__.update(values)
