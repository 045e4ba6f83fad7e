"""Rate and spend counters: in process memory, or in Redis so that every gateway process sees the same numbers.

Per key: requests in the current minute (``rpm``), tokens in the current minute (``tpm``) and spend in the current
budget window (``spend``, seeded from the database the first time a process needs it, then advanced by every
recorded call). Minutes are fixed windows (``epoch // 60``); budget windows are the key's own (see
:meth:`gateway.keys.model.VirtualKey.budget_window`). With Redis each check is one pipelined round trip and each
record another; when Redis fails the process falls back to its own counters (logged) rather than refusing traffic.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Protocol

logger = logging.getLogger(__name__)
PREFIX = "litellm-gateway:keys:"
MINUTE_TTL = 120
SPEND_TTL = 3600  # a spend counter is re-seeded from the database at least hourly


@dataclass(frozen=True)
class Snapshot:
    rpm: int  # requests this minute, including this one when it was counted
    tpm: int  # tokens this minute (recorded calls)
    spend: float | None  # spend in the budget window; None when this process has not seeded it


class Counters(Protocol):
    async def check(self, key_id: str, minute: int, window: str, count_request: bool) -> Snapshot: ...

    async def seed(self, key_id: str, window: str, spend: float) -> None: ...

    async def add(self, key_id: str, minute: int, window: str | None, tokens: int, cost: float) -> None: ...


class MemoryCounters:
    """One process's counters (entries expire lazily)."""

    def __init__(self, clock: Any = time.monotonic) -> None:
        self.clock = clock
        self.ints: dict[str, tuple[int, float]] = {}
        self.floats: dict[str, tuple[float, float]] = {}

    def _int(self, name: str) -> int:
        value, until = self.ints.get(name, (0, 0.0))
        return value if until > self.clock() else 0

    def _bump(self, name: str, by: int) -> int:
        value = self._int(name) + by
        self.ints[name] = (value, self.clock() + MINUTE_TTL)
        if len(self.ints) > 100_000:
            self._sweep()
        return value

    def _sweep(self) -> None:
        now = self.clock()
        self.ints = {k: v for k, v in self.ints.items() if v[1] > now}
        self.floats = {k: v for k, v in self.floats.items() if v[1] > now}

    async def check(self, key_id: str, minute: int, window: str, count_request: bool) -> Snapshot:
        rpm_name = f"{key_id}:rpm:{minute}"
        rpm = self._bump(rpm_name, 1) if count_request else self._int(rpm_name)
        stored = self.floats.get(f"{key_id}:spend:{window}")
        spend = stored[0] if stored is not None and stored[1] > self.clock() else None
        return Snapshot(rpm=rpm, tpm=self._int(f"{key_id}:tpm:{minute}"), spend=spend)

    async def seed(self, key_id: str, window: str, spend: float) -> None:
        name = f"{key_id}:spend:{window}"
        stored = self.floats.get(name)
        if stored is None or stored[1] <= self.clock():
            self.floats[name] = (spend, self.clock() + SPEND_TTL)

    async def add(self, key_id: str, minute: int, window: str | None, tokens: int, cost: float) -> None:
        if tokens:
            self._bump(f"{key_id}:tpm:{minute}", tokens)
        if window is not None and cost:
            name = f"{key_id}:spend:{window}"
            stored = self.floats.get(name)
            if stored is not None and stored[1] > self.clock():
                self.floats[name] = (stored[0] + cost, stored[1])


class RedisCounters:
    """Counters in Redis (shared by every process using the same server); the process's own on a Redis error."""

    def __init__(self, redis: Any) -> None:
        self.redis = redis
        self.fallback = MemoryCounters()

    async def check(self, key_id: str, minute: int, window: str, count_request: bool) -> Snapshot:
        rpm_name, tpm_name = f"{PREFIX}{key_id}:rpm:{minute}", f"{PREFIX}{key_id}:tpm:{minute}"
        try:
            pipe = self.redis.pipeline(transaction=False)
            if count_request:
                pipe.incr(rpm_name)
                pipe.expire(rpm_name, MINUTE_TTL)
            else:
                pipe.get(rpm_name)
            pipe.get(tpm_name)
            pipe.get(f"{PREFIX}{key_id}:spend:{window}")
            results = await pipe.execute()
        except Exception as exc:  # any Redis failure: count locally rather than refuse or crash
            logger.warning("redis counters unavailable (%s); using this process's counters", type(exc).__name__)
            return await self.fallback.check(key_id, minute, window, count_request)
        rpm, tpm, spend = results[0], results[-2], results[-1]
        return Snapshot(
            rpm=int(rpm or 0),
            tpm=int(tpm or 0),
            spend=None if spend is None else float(spend),
        )

    async def seed(self, key_id: str, window: str, spend: float) -> None:
        try:
            await self.redis.set(f"{PREFIX}{key_id}:spend:{window}", repr(spend), nx=True, ex=SPEND_TTL)
        except Exception as exc:
            logger.warning("redis counters unavailable (%s); using this process's counters", type(exc).__name__)
            await self.fallback.seed(key_id, window, spend)

    async def add(self, key_id: str, minute: int, window: str | None, tokens: int, cost: float) -> None:
        try:
            pipe = self.redis.pipeline(transaction=False)
            if tokens:
                name = f"{PREFIX}{key_id}:tpm:{minute}"
                pipe.incrby(name, tokens)
                pipe.expire(name, MINUTE_TTL)
            if window is not None and cost:
                # only a seeded counter is advanced: an unseeded one is read from the database on the next check
                pipe.eval(_ADD_IF_EXISTS, 1, f"{PREFIX}{key_id}:spend:{window}", repr(cost))
            await pipe.execute()
        except Exception as exc:
            logger.warning("redis counters unavailable (%s); using this process's counters", type(exc).__name__)
            await self.fallback.add(key_id, minute, window, tokens, cost)


_ADD_IF_EXISTS = "if redis.call('exists', KEYS[1]) == 1 then return redis.call('incrbyfloat', KEYS[1], ARGV[1]) end"
