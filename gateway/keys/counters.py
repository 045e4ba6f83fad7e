"""Rate and spend counters: in process memory, or in Redis so that every gateway process sees the same numbers.

Per key: requests in the current minute (``rpm``), tokens in the current minute (``tpm``) and spend in the current
budget window (``spend``, seeded from the database the first time a process needs it, then advanced by every
recorded call). Minutes are fixed windows (``epoch // 60``); budget windows are the key's own (see
:meth:`gateway.keys.model.VirtualKey.budget_window`). Here: one process's counters; shared through Redis (synced in
the background, off the request path): :mod:`gateway.keys.synced`.
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
    def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def check(
        self, key_id: str, minute: int, window: str, count_request: bool, rpm_limit: int | None = None
    ) -> Snapshot: ...

    async def seed(self, key_id: str, window: str, spend: float) -> None: ...

    async def add(self, key_id: str, minute: int, window: str | None, tokens: int, cost: float) -> None: ...

    def advance(self, key_id: str, minute: int, window: str | None, tokens: int, cost: float) -> None:
        """``add`` without awaiting: what a recorded call adds, counted at once (the request path's form)."""


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

    def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def check(
        self, key_id: str, minute: int, window: str, count_request: bool, rpm_limit: int | None = None
    ) -> Snapshot:
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
        self.advance(key_id, minute, window, tokens, cost)

    def advance(self, key_id: str, minute: int, window: str | None, tokens: int, cost: float) -> None:
        if tokens:
            self._bump(f"{key_id}:tpm:{minute}", tokens)
        if window is not None and cost:
            name = f"{key_id}:spend:{window}"
            stored = self.floats.get(name)
            if stored is not None and stored[1] > self.clock():
                self.floats[name] = (stored[0] + cost, stored[1])
