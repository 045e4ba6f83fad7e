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


class _KeyState:
    """One key's numbers in this process: the current minute's requests and tokens, the budget window's spend."""

    __slots__ = ("minute", "rpm", "spend", "spend_until", "tpm", "window")

    def __init__(self) -> None:
        self.minute = -1
        self.rpm = 0
        self.tpm = 0
        self.window: str | None = None
        self.spend = 0.0
        self.spend_until = 0.0  # clock() after which the spend is re-seeded from the database

    def roll(self, minute: int) -> None:
        if minute > self.minute:  # a new minute starts from zero; an older one is over and no longer read
            self.minute, self.rpm, self.tpm = minute, 0, 0


class MemoryCounters:
    """One process's counters: one small state per key (a minute's rpm/tpm, a budget window's spend), so a check and
    an advance are a dictionary lookup and a few attribute updates. A call counted for a minute or budget window
    that has since been left no longer matters to any check and is not kept."""

    def __init__(self, clock: Any = time.monotonic) -> None:
        self.clock = clock
        self.keys: dict[str, _KeyState] = {}

    def _state(self, key_id: str) -> _KeyState:
        state = self.keys.get(key_id)
        if state is None:
            if len(self.keys) >= 100_000:
                self._sweep()
            state = self.keys[key_id] = _KeyState()
        return state

    def _sweep(self) -> None:
        """Forget the keys idle for two minutes whose spend is due for re-seeding anyway."""
        minute, now = int(time.time() // 60), self.clock()
        self.keys = {k: v for k, v in self.keys.items() if v.minute >= minute - 1 or v.spend_until > now}

    def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def check(
        self, key_id: str, minute: int, window: str, count_request: bool, rpm_limit: int | None = None
    ) -> Snapshot:
        state = self._state(key_id)
        state.roll(minute)
        if minute != state.minute:  # asked about a minute already left behind: nothing counted there any more
            return Snapshot(rpm=0, tpm=0, spend=self._spend(state, window))
        if count_request:
            state.rpm += 1
        return Snapshot(rpm=state.rpm, tpm=state.tpm, spend=self._spend(state, window))

    def _spend(self, state: _KeyState, window: str) -> float | None:
        return state.spend if state.window == window and state.spend_until > self.clock() else None

    async def seed(self, key_id: str, window: str, spend: float) -> None:
        state = self._state(key_id)
        if state.window != window or state.spend_until <= self.clock():
            state.window, state.spend, state.spend_until = window, spend, self.clock() + SPEND_TTL

    async def add(self, key_id: str, minute: int, window: str | None, tokens: int, cost: float) -> None:
        self.advance(key_id, minute, window, tokens, cost)

    def advance(self, key_id: str, minute: int, window: str | None, tokens: int, cost: float) -> None:
        state = self._state(key_id)
        if tokens:
            state.roll(minute)
            if minute == state.minute:
                state.tpm += tokens
        if cost and window is not None and state.window == window:
            state.spend += cost  # once seeded; an expired seed is replaced by the next check's database read
