"""The Redis counters' stated tolerances (gateway.keys.synced), on the machine's Redis: two SyncedCounters are two
processes' views of the same key. The two-gateway-process versions are in test_limits.py."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis import asyncio as redis_asyncio

from gateway.keys.synced import SYNC_SECONDS, SyncedCounters, slice_of
from tests.keys.conftest import REDIS_URL

WINDOW = "life"


@asynccontextmanager
async def processes(count: int, url: str = REDIS_URL) -> AsyncIterator[list[SyncedCounters]]:
    clients = [redis_asyncio.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5) for _ in range(count)]
    views = [SyncedCounters(client) for client in clients]
    for view in views:
        view.start()
    try:
        yield views
    finally:
        for view, client in zip(views, clients, strict=True):
            await view.stop()
            await client.aclose()


def a_minute() -> int:
    return int(time.time() // 60)


async def test_rpm_is_never_over_admitted_and_at_most_a_slice_per_process_is_lost() -> None:
    limit = 100  # slice 5
    key, minute = f"k{uuid.uuid4().hex}", a_minute()
    async with processes(2) as views:

        async def burst(view: SyncedCounters, count: int) -> int:
            admitted = 0
            for n in range(count):
                snapshot = await view.check(key, minute, WINDOW, True, limit)
                admitted += snapshot.rpm <= limit
                if n % 7 == 0:
                    await asyncio.sleep(0.001)  # let the background syncs run in between
            return admitted

        admitted = await asyncio.gather(burst(views[0], 150), burst(views[1], 150))
    assert limit - 2 * slice_of(limit) <= sum(admitted) <= limit, admitted
    assert min(admitted) > 0


async def test_a_limit_reached_elsewhere_is_refused_without_a_round_trip() -> None:
    key, minute = f"k{uuid.uuid4().hex}", a_minute()
    async with processes(2) as [a, b]:
        admitted = [(await a.check(key, minute, WINDOW, True, 3)).rpm <= 3 for _ in range(3)]
        assert admitted == [True, True, True]
        assert (await b.check(key, minute, WINDOW, True, 3)).rpm > 3  # B's reservation got nothing ...
        calls = b._fetch  # ... and B does not ask again this minute
        b._fetch = None  # type: ignore[assignment,method-assign]
        assert (await b.check(key, minute, WINDOW, True, 3)).rpm > 3
        b._fetch = calls  # type: ignore[method-assign]


async def test_spend_through_one_process_reaches_the_other_within_two_sync_intervals() -> None:
    key, minute = f"k{uuid.uuid4().hex}", a_minute()
    async with processes(2) as [a, b]:
        for view in (a, b):
            assert (await view.check(key, minute, WINDOW, False)).spend is None  # not seeded yet
        await a.seed(key, WINDOW, 1.5)  # the first seed wins (SET NX) ...
        await b.seed(key, WINDOW, 9.0)  # ... and a later one takes the stored number
        assert (await b.check(key, minute, WINDOW, False)).spend == 1.5
        await a.add(key, minute, WINDOW, 400, 2.25)
        assert (await a.check(key, minute, WINDOW, False)).spend == 3.75  # A counts its own call at once
        started = time.monotonic()
        while (await b.check(key, minute, WINDOW, False)).spend != 3.75:
            assert time.monotonic() - started < 2 * SYNC_SECONDS + 1.0  # generous margin on a loaded machine
            await asyncio.sleep(0.01)
        assert (await b.check(key, minute, WINDOW, False)).tpm == 400


async def test_a_redis_outage_counts_in_process_and_never_refuses() -> None:
    key, minute = f"k{uuid.uuid4().hex}", a_minute()
    async with processes(1, "redis://127.0.0.1:9/0") as [alone]:  # nothing listens on port 9
        answers = [(await alone.check(key, minute, WINDOW, True, 2)).rpm for _ in range(3)]
    assert answers == [1, 2, 3]  # the process's own count: the third is over the limit of 2


async def test_increments_are_sent_once_when_a_sync_and_a_request_path_read_overlap() -> None:
    key, minute = f"k{uuid.uuid4().hex}", a_minute()
    async with processes(2) as [a, b]:
        await a.check(key, minute, WINDOW, False)
        await a.add(key, minute, WINDOW, 100, 0.0)
        state = a.keys[key]
        await asyncio.gather(a.sync(), a._fetch(key, state, 0), a.sync())
        assert (state.tpm_pending, state.tpm_sending, state.tpm) == (0, 0, 100)
        assert (await b.check(key, minute, WINDOW, False)).tpm == 100  # in Redis once
