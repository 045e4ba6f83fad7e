"""A process's own counters (gateway.keys.counters.MemoryCounters), on a clock the test moves: requests and tokens
per minute, a budget window's spend seeded once and advanced by recorded calls, re-seeded after SPEND_TTL."""

from __future__ import annotations

import asyncio

from gateway.keys.counters import SPEND_TTL, MemoryCounters, Snapshot


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def check(counters: MemoryCounters, minute: int, window: str = "w1", count: bool = True) -> Snapshot:
    return asyncio.run(counters.check("key_1", minute, window, count, 10))


def test_requests_and_tokens_per_minute() -> None:
    counters = MemoryCounters(Clock())
    assert check(counters, 100) == Snapshot(rpm=1, tpm=0, spend=None)
    assert check(counters, 100).rpm == 2
    assert check(counters, 100, count=False).rpm == 2  # a look without counting
    counters.advance("key_1", 100, None, 500, 0.0)
    counters.advance("key_1", 100, None, 250, 0.0)
    assert check(counters, 100, count=False) == Snapshot(rpm=2, tpm=750, spend=None)
    assert asyncio.run(counters.check("key_2", 100, "w1", False)) == Snapshot(rpm=0, tpm=0, spend=None)

    assert check(counters, 101) == Snapshot(rpm=1, tpm=0, spend=None)  # a new minute starts from zero
    counters.advance("key_1", 100, None, 999, 0.0)  # a call counted for the minute already left: not kept
    counters.advance("key_1", 101, None, 40, 0.0)
    assert check(counters, 101, count=False) == Snapshot(rpm=1, tpm=40, spend=None)
    assert check(counters, 100, count=False) == Snapshot(rpm=0, tpm=0, spend=None)
    counters.advance("key_1", 103, None, 7, 0.0)  # a recorded call can open the next minute
    assert check(counters, 103) == Snapshot(rpm=1, tpm=7, spend=None)


def test_spend_seeded_advanced_and_re_seeded() -> None:
    clock = Clock()
    counters = MemoryCounters(clock)
    counters.advance("key_1", 100, "w1", 10, 5.0)  # not seeded yet: the database read will include this call
    assert check(counters, 100).spend is None
    asyncio.run(counters.seed("key_1", "w1", 2.5))
    counters.advance("key_1", 100, "w1", 10, 0.25)
    counters.advance("key_1", 100, None, 10, 100.0)  # a call whose key (so window) is unknown: no spend
    assert check(counters, 100).spend == 2.75
    asyncio.run(counters.seed("key_1", "w1", 0.0))  # a second seed (another request's read) does not undo calls
    assert check(counters, 100).spend == 2.75

    assert check(counters, 100, window="w2").spend is None  # the next budget window: read from the database
    asyncio.run(counters.seed("key_1", "w2", 1.0))
    counters.advance("key_1", 100, "w1", 10, 9.0)  # a call of the window left behind: no longer counted
    counters.advance("key_1", 100, "w2", 10, 0.5)
    assert check(counters, 100, window="w2").spend == 1.5

    clock.now += SPEND_TTL  # at least hourly the spend is read again (other processes' calls included)
    assert check(counters, 100, window="w2").spend is None
    asyncio.run(counters.seed("key_1", "w2", 42.0))
    assert check(counters, 100, window="w2").spend == 42.0
