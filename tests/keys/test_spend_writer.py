"""The batched spend write (gateway.keys.spend_writer) on SQLite and PostgreSQL: the rows handed to the driver read
back through SQLAlchemy as written (timestamps to the microsecond, filters on them), the keys' lifetime spend and
the totals advanced, a failed batch writes nothing and leaves the pooled connection usable."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from gateway.keys.spend_writer import SpendRow
from gateway.keys.store import KeyStore, SpendFilter
from gateway.keys.tables import spend_logs
from tests.storage.conftest import migrated_engine

START = datetime(2026, 12, 6, 5, 0, 0)  # microsecond 0: the text SQLite stores still carries ".000000"


def _row(n: int, key_id: str, at: datetime, cost: float, **fields: Any) -> SpendRow:
    values: dict[str, Any] = {
        "request_id": f"req_{n:04d}",
        "key_id": key_id,
        "key_name": "alice",
        "workspace": "team-a",
        "model": "claude-sonnet-4-5",
        "deployment": "main/1",
        "input_tokens": 100 + n,
        "output_tokens": 10 + n,
        "cache_creation_input_tokens": n % 3,
        "cache_read_input_tokens": 1000 * (n % 2),
        "cost": cost,
        "created_at": at,
        **fields,
    }
    return SpendRow(**values)


def _run(database: dict[str, Any], work: Callable[[KeyStore], Awaitable[None]]) -> None:
    async def main() -> None:
        async with migrated_engine(database) as engine:
            await work(KeyStore(engine))

    asyncio.run(main())


async def _spend(store: KeyStore, key_id: str) -> float:
    key = await store.get(key_id)
    assert key is not None
    return key.spend


def test_the_row_is_the_tables_column_order() -> None:
    assert SpendRow._fields == tuple(column.name for column in spend_logs.c)


def test_rows_read_back_as_written_and_spend_advanced(database: dict[str, Any]) -> None:
    async def work(store: KeyStore) -> None:
        alice = await store.create("a" * 64, "sk-…aaaa", {"key_name": "alice", "workspace": "team-a"})
        bob = await store.create("b" * 64, "sk-…bbbb", {"key_name": "bob", "workspace": "team-b"})
        first = [_row(i, alice.id, START + timedelta(microseconds=i * 250_001), 0.5 + i) for i in range(300)]
        second = [
            _row(300, bob.id, START + timedelta(seconds=100), 2.25, workspace="team-b", key_name=None),
            _row(301, "config:ops", START + timedelta(seconds=101), 0.125, deployment=None, workspace="default"),
            _row(302, alice.id, START + timedelta(seconds=102), 1.0),
        ]
        await store.write_spend(first)
        await store.write_spend(second)
        await store.write_spend([])

        written = await store.spend_logs(SpendFilter(), limit=1000)
        assert sorted(written) == sorted(first + second)  # every field, timestamps to the microsecond
        assert all(type(row.created_at) is datetime and row.created_at.tzinfo is None for row in written)

        alice_spend = sum(row.cost for row in first) + 1.0
        assert await _spend(store, alice.id) == pytest.approx(alice_spend)
        assert await _spend(store, bob.id) == pytest.approx(2.25)
        assert await store.spend_since(alice.id, None) == pytest.approx(alice_spend)
        # a bound filter compares with the stored value: the row written at START itself is included
        assert await store.spend_since(alice.id, START) == pytest.approx(alice_spend)
        later = first[200].created_at
        assert await store.spend_since(alice.id, later) == pytest.approx(sum(r.cost for r in first[200:]) + 1.0)
        window = SpendFilter(start=START + timedelta(seconds=100), end=START + timedelta(seconds=102))
        assert {row.request_id for row in await store.spend_logs(window, limit=10)} == {"req_0300", "req_0301"}

        totals = {t["workspace"]: t for t in await store.totals(SpendFilter(), by=["workspace"])}
        assert totals["team-a"]["requests"] == 301
        assert totals["team-a"]["input_tokens"] == sum(r.input_tokens for r in first) + 402
        assert totals["team-a"]["cost"] == pytest.approx(alice_spend)
        assert totals["team-b"]["cost"] == pytest.approx(2.25) and totals["default"]["requests"] == 1

    _run(database, work)


def test_a_failed_batch_writes_nothing(database: dict[str, Any]) -> None:
    async def work(store: KeyStore) -> None:
        key = await store.create("c" * 64, "sk-…cccc", {"key_name": "carol"})
        await store.write_spend([_row(1, key.id, START, 1.0)])
        clash = [_row(2, key.id, START, 2.0), _row(1, key.id, START, 4.0), _row(3, key.id, START, 8.0)]
        with pytest.raises(Exception, match=r"(?i)unique"):  # request_id 1 is written already
            await store.write_spend(clash)
        assert [row.request_id for row in await store.spend_logs(SpendFilter(), limit=10)] == ["req_0001"]
        assert await _spend(store, key.id) == pytest.approx(1.0)
        await store.write_spend([_row(2, key.id, START, 2.0)])  # the pooled connection came back clean
        async with store.engine.connect() as conn:
            count = (await conn.execute(sa.select(sa.func.count()).select_from(spend_logs))).scalar_one()
        assert count == 2
        assert await _spend(store, key.id) == pytest.approx(3.0)

    _run(database, work)
