"""The batched spend write: one INSERT of many rows plus each key's lifetime-spend UPDATE, in one transaction.

The rows are handed to the database driver as they are (``SpendRow`` is a tuple in the table's column order) with
one ``executemany`` per batch, on the engine's pooled connection (``driver_connection``: aiosqlite or asyncpg), so
no SQLAlchemy statement is compiled and no per-row parameter dict is built or processed. That is what a batch costs
the process: through SQLAlchemy Core (compilation, per-row bind processing, a cursor open and close per statement,
each a hand-off to aiosqlite's thread) a 200-row batch cost about twice the CPU per row of this path (see
``docs/development/notes/issue-14-keys.md``). The statements are written once per dialect from the table's columns.

Only what SQLAlchemy would do to the values is repeated here: SQLite stores a ``DateTime`` as the text
``YYYY-MM-DD HH:MM:SS.ffffff`` (SQLAlchemy's default storage format, which its reads parse and its bound filters
compare against); asyncpg takes the naive UTC ``datetime`` as is. The storage accepts these two drivers only
(``gateway.storage.config``).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import suppress
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy.ext.asyncio import AsyncEngine


class SpendRow(NamedTuple):
    """One metered model call (a tuple in ``spend_logs``' column order: it is the driver's parameter row)."""

    request_id: str
    key_id: str
    key_name: str | None
    workspace: str
    model: str
    deployment: str | None
    input_tokens: int
    output_tokens: int
    cache_creation_input_tokens: int
    cache_read_input_tokens: int
    cost: float
    created_at: datetime


_COLUMNS = ", ".join(SpendRow._fields)  # spend_logs' columns (tests/keys/test_spend_writer.py checks them)
_WIDTH = len(SpendRow._fields)
SQLITE_INSERT = f"INSERT INTO spend_logs ({_COLUMNS}) VALUES ({', '.join('?' * _WIDTH)})"
SQLITE_SPEND = "UPDATE virtual_keys SET spend = spend + ? WHERE id = ?"
PG_INSERT = f"INSERT INTO spend_logs ({_COLUMNS}) VALUES ({', '.join(f'${i + 1}' for i in range(_WIDTH))})"
PG_SPEND = "UPDATE virtual_keys SET spend = spend + $1 WHERE id = $2"


def per_key(rows: Sequence[SpendRow]) -> list[tuple[float, str]]:
    """(spend to add, key id) per key of ``rows``, in key order: two writers never deadlock on PostgreSQL."""
    sums: dict[str, float] = {}
    for row in rows:
        sums[row.key_id] = sums.get(row.key_id, 0.0) + row.cost
    return [(sums[key_id], key_id) for key_id in sorted(sums)]


def sqlite_params(rows: Sequence[SpendRow]) -> list[tuple[Any, ...]]:
    """The rows as sqlite3 parameters: ``created_at`` (last) as SQLAlchemy's SQLite DATETIME text."""
    return [(*row[:-1], row.created_at.isoformat(" ", "microseconds")) for row in rows]


async def _sqlite(driver: Any, rows: Sequence[SpendRow], spend: list[tuple[float, str]]) -> None:
    # aiosqlite: each call is one hand-off to the connection's thread; sqlite3 begins the transaction implicitly
    try:
        await driver.executemany(SQLITE_INSERT, sqlite_params(rows))
        for pair in spend:
            await driver.execute(SQLITE_SPEND, pair)
        await driver.commit()
    except BaseException:
        with suppress(Exception):  # the pool's reset on return rolls back too
            await driver.rollback()
        raise


async def _postgresql(driver: Any, rows: Sequence[SpendRow], spend: list[tuple[float, str]]) -> None:
    # asyncpg: the rows go in one prepared-statement pipeline
    async with driver.transaction():
        await driver.executemany(PG_INSERT, rows)
        await driver.executemany(PG_SPEND, spend)


async def write(engine: AsyncEngine, rows: Sequence[SpendRow]) -> None:
    """Insert ``rows`` (``SpendRow``s) and advance each virtual key's lifetime spend, in one transaction."""
    if not rows:
        return
    spend = per_key(rows)
    # the storage accepts these two drivers only (gateway.storage.config.SUPPORTED_DRIVERS)
    sqlite = engine.dialect.driver == "aiosqlite"
    async with engine.connect() as conn:
        driver = (await conn.get_raw_connection()).driver_connection
        await (_sqlite if sqlite else _postgresql)(driver, rows, spend)
