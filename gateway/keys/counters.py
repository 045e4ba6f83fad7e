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
    """Counters in Redis (shared by every process using the same server); the process's own on a Redis error. Each
    check and each add is one Lua script call (one command: redis-py's per-command CPU is what dominates here)."""

    def __init__(self, redis: Any) -> None:
        self.redis = redis
        self.fallback = MemoryCounters()
        self._check = redis.register_script(_CHECK)
        self._add = redis.register_script(_ADD)

    def _failed(self, exc: Exception) -> None:
        logger.warning("redis counters unavailable (%s); using this process's counters", type(exc).__name__)

    async def check(self, key_id: str, minute: int, window: str, count_request: bool) -> Snapshot:
        names = [f"{PREFIX}{key_id}:rpm:{minute}", f"{PREFIX}{key_id}:tpm:{minute}", f"{PREFIX}{key_id}:spend:{window}"]
        try:
            rpm, tpm, spend = await self._check(keys=names, args=[1 if count_request else 0, MINUTE_TTL])
        except Exception as exc:  # any Redis failure: count locally rather than refuse or crash
            self._failed(exc)
            return await self.fallback.check(key_id, minute, window, count_request)
        return Snapshot(rpm=int(rpm or 0), tpm=int(tpm or 0), spend=None if not spend else float(spend))

    async def seed(self, key_id: str, window: str, spend: float) -> None:
        try:
            await self.redis.set(f"{PREFIX}{key_id}:spend:{window}", repr(spend), nx=True, ex=SPEND_TTL)
        except Exception as exc:
            self._failed(exc)
            await self.fallback.seed(key_id, window, spend)

    async def add(self, key_id: str, minute: int, window: str | None, tokens: int, cost: float) -> None:
        spend_name = f"{PREFIX}{key_id}:spend:{window}" if window is not None else f"{PREFIX}{key_id}:spend:-"
        try:
            await self._add(
                keys=[f"{PREFIX}{key_id}:tpm:{minute}", spend_name],
                args=[tokens, repr(cost) if window is not None else "0", MINUTE_TTL],
            )
        except Exception as exc:
            self._failed(exc)
            await self.fallback.add(key_id, minute, window, tokens, cost)


# rpm (counted when ARGV[1] is 1), tpm, spend (a string: Lua would truncate a float; false when absent)
_CHECK = """
local rpm
if ARGV[1] == '1' then
  rpm = redis.call('incr', KEYS[1])
  redis.call('expire', KEYS[1], ARGV[2])
else
  rpm = tonumber(redis.call('get', KEYS[1]) or '0')
end
return {rpm, redis.call('get', KEYS[2]) or '0', redis.call('get', KEYS[3]) or ''}
"""
# tokens into this minute's tpm; the cost into the spend counter only when it was seeded (an unseeded one is read
# from the database on the next check)
_ADD = """
if tonumber(ARGV[1]) > 0 then
  redis.call('incrby', KEYS[1], ARGV[1])
  redis.call('expire', KEYS[1], ARGV[3])
end
if ARGV[2] ~= '0' and redis.call('exists', KEYS[2]) == 1 then
  redis.call('incrbyfloat', KEYS[2], ARGV[2])
end
return 1
"""
