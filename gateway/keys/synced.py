"""Counters shared through Redis without a Redis round trip on the request path.

Each process keeps, per key it served in the last minute, the shared numbers as of its last sync plus its own
increments not yet sent, and a background task syncs every ``SYNC_SECONDS``: one pipelined call for all those keys
sends the local increments (tokens, spend) and reads the shared counts back.

* **rpm** is never over-admitted: a process admits a request only from an *allowance* it reserved in Redis for
  this minute (atomically, never past the limit). It reserves a slice (``slice_of(limit)``: 1/20 of the limit, at
  least 1) when it has none, on the request path (the first request of a key per minute per process, or when a
  burst outruns the refill), and refills in the background when half a slice is used. Tolerance: across all
  processes at most ``rpm_limit`` requests are admitted in a minute, and at least ``rpm_limit - processes x slice``
  before refusals start (a slice reserved by a process that does not use it is lost for that minute).
* **tpm and budgets** are known only after a call; a process refuses on its last synced view plus its own calls.
  Tolerance: a budget (or tpm) spent through one process is refused on the others within ``SYNC_SECONDS`` of the
  call being recorded (``record`` adds it at once; the next sync sends it, the others' next sync reads it, so at
  most two intervals; calls already admitted in that time finish, as calls in flight always do).
* A key not used by this process for ``IDLE_SECONDS`` is dropped; its next request reads it once (a round trip).
* A Redis error falls back to the process's own counters (logged once per outage), never refuses traffic.
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from gateway.keys.counters import MINUTE_TTL, PREFIX, SPEND_TTL, MemoryCounters, Snapshot

logger = logging.getLogger(__name__)
SYNC_SECONDS = 0.1
IDLE_SECONDS = 60.0
SLICE_FRACTION = 20
_Sent = tuple[int, str, int, float]  # what a sync sends: minute, budget window, tokens, cost


def slice_of(limit: int) -> int:
    """How many requests of an rpm limit a process reserves at a time."""
    return max(1, limit // SLICE_FRACTION)


@dataclass
class _Key:
    """One key's numbers as this process knows them."""

    minute: int
    window: str
    used_at: float
    rpm_limit: int | None = None
    rpm: int = 0  # this minute's count in Redis at the last sync (reservations included)
    allowance: int = 0  # requests reserved by this process for this minute and not yet admitted
    exhausted: bool = False  # Redis granted less than asked: the minute's limit is reserved
    drew: bool = False  # admitted a request from the allowance since the last sync
    tpm: int = 0
    tpm_pending: int = 0  # this process's tokens not sent yet
    tpm_sending: int = 0  # sent, the answer not back yet (a sync and a request-path fetch may overlap)
    spend: float | None = None  # the window's spend in Redis at the last sync (None: not seeded)
    spend_pending: float = 0.0
    spend_sending: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def roll(self, minute: int, window: str) -> None:
        """Forget what belongs to a past minute or budget window (it no longer limits anything)."""
        if minute > self.minute:
            self.minute, self.rpm, self.allowance, self.tpm, self.tpm_pending, self.tpm_sending = minute, 0, 0, 0, 0, 0
            self.exhausted = self.drew = False
        if window != self.window:
            self.window, self.spend, self.spend_pending, self.spend_sending = window, None, 0.0, 0.0

    def take(self) -> _Sent:
        """The increments to send now (each is sent once, even when a sync and a fetch overlap)."""
        sent = self.minute, self.window, self.tpm_pending, self.spend_pending
        self.tpm_sending, self.spend_sending = (
            self.tpm_sending + self.tpm_pending,
            self.spend_sending + self.spend_pending,
        )
        self.tpm_pending, self.spend_pending = 0, 0.0
        return sent

    def settle(self, sent: _Sent, *, delivered: bool) -> None:
        """The answer to ``sent`` is back (or the call failed: then the increments are pending again)."""
        minute, window, tokens, cost = sent
        if minute == self.minute:
            self.tpm_sending -= tokens
            if not delivered:
                self.tpm_pending += tokens
        if window == self.window:
            self.spend_sending -= cost
            if not delivered:
                self.spend_pending += cost

    def snapshot(self, rpm: int) -> Snapshot:
        spend = None if self.spend is None else self.spend + self.spend_pending + self.spend_sending
        return Snapshot(rpm=rpm, tpm=self.tpm + self.tpm_pending + self.tpm_sending, spend=spend)


class SyncedCounters:
    """Redis counters read and written in the background (see the module's docstring for the tolerances)."""

    def __init__(self, redis: Any, *, sync_seconds: float = SYNC_SECONDS) -> None:
        self.redis = redis
        self.sync_seconds = sync_seconds
        self.fallback = MemoryCounters()
        self.keys: dict[str, _Key] = {}
        self._script = redis.register_script(_SYNC)
        self._task: asyncio.Task[None] | None = None
        self._down = False

    # -- lifecycle -----------------------------------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="keys-counter-sync")

    async def stop(self) -> None:
        """Stop syncing, after sending what is pending."""
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.sync()

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.sync_seconds)
            await self.sync()

    # -- Redis ---------------------------------------------------------------------------------------------------
    def _failed(self, exc: Exception) -> None:
        if not self._down:
            logger.warning("redis counters unavailable (%s); using this process's counters", type(exc).__name__)
        self._down = True

    def _call(self, key_id: str, state: _Key, sent: _Sent, want: int, client: Any = None) -> Any:
        minute, window, tokens, cost = sent
        names = [f"{PREFIX}{key_id}:rpm:{minute}", f"{PREFIX}{key_id}:tpm:{minute}", f"{PREFIX}{key_id}:spend:{window}"]
        args = [tokens, repr(cost), want, state.rpm_limit or 0, MINUTE_TTL]
        return self._script(keys=names, args=args, client=client)

    def _apply(self, state: _Key, sent: _Sent, want: int, answer: list[Any]) -> None:
        """Take a sync's answer: the sent increments are now in the shared numbers (unless a new minute or budget
        window began meanwhile: then the answer's numbers are the old one's, and were forgotten with it)."""
        minute, window, _tokens, _cost = sent
        state.settle(sent, delivered=True)
        granted, rpm, tpm, spend = int(answer[0]), int(answer[1]), int(answer[2] or 0), answer[3]
        if window == state.window:
            state.spend = float(spend) if spend else None
        if minute == state.minute:
            state.rpm, state.tpm = rpm, tpm
            state.allowance += granted
            state.exhausted = state.exhausted or granted < want

    def _want(self, state: _Key) -> int:
        """How many requests to reserve in a background sync (refill below half a slice)."""
        if state.rpm_limit is None or state.exhausted:
            return 0
        size = slice_of(state.rpm_limit)
        return size - state.allowance if state.drew and state.allowance * 2 < size else 0

    async def sync(self) -> None:
        """One pipelined round trip for every key used lately: send increments, refill allowances, read back."""
        now = time.monotonic()
        for key_id in [k for k, s in self.keys.items() if now - s.used_at > IDLE_SECONDS and not s.lock.locked()]:
            state = self.keys.pop(key_id)
            if state.tpm_pending or state.spend_pending:
                self.keys[key_id] = state  # still something to send: keep it one more round
        if not self.keys:
            return
        batch = [(key_id, state) for key_id, state in self.keys.items() if not state.lock.locked()]
        sent = [state.take() for _k, state in batch]
        wants = [self._want(state) for _k, state in batch]
        for _k, state in batch:
            state.drew = False
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for (key_id, state), one, want in zip(batch, sent, wants, strict=True):
                    await self._call(key_id, state, one, want, client=pipe)  # queued in the pipeline
                answers = await pipe.execute()
        except Exception as exc:
            self._failed(exc)
            for (_key_id, state), one in zip(batch, sent, strict=True):
                state.settle(one, delivered=False)
            return
        self._down = False
        for (_key_id, state), one, want, answer in zip(batch, sent, wants, answers, strict=True):
            self._apply(state, one, want, answer)

    async def _fetch(self, key_id: str, state: _Key, want: int) -> bool:
        """A sync of one key on the request path (first use, or an empty allowance); False when Redis failed."""
        sent = state.take()
        try:
            answer = await self._call(key_id, state, sent, want)
        except Exception as exc:
            self._failed(exc)
            state.settle(sent, delivered=False)
            return False
        self._down = False
        self._apply(state, sent, want, answer)
        return True

    # -- the Counters interface ------------------------------------------------------------------------------------
    def _state(self, key_id: str, minute: int, window: str) -> tuple[_Key, bool]:
        state = self.keys.get(key_id)
        fresh = state is None
        if state is None:
            state = self.keys[key_id] = _Key(minute=minute, window=window, used_at=time.monotonic())
        state.roll(minute, window)
        state.used_at = time.monotonic()
        return state, fresh

    async def check(
        self, key_id: str, minute: int, window: str, count_request: bool, rpm_limit: int | None = None
    ) -> Snapshot:
        state, fresh = self._state(key_id, minute, window)
        state.rpm_limit = rpm_limit
        counting = count_request and rpm_limit is not None
        if fresh or (counting and state.allowance == 0 and not state.exhausted):
            async with state.lock:  # one round trip for concurrent requests of the same key
                if state.minute == minute and (fresh or (state.allowance == 0 and not state.exhausted)):
                    want = slice_of(rpm_limit) if counting and rpm_limit is not None else 0
                    if not await self._fetch(key_id, state, want):
                        return await self.fallback.check(key_id, minute, window, count_request, rpm_limit)
        if not counting:
            return state.snapshot(state.rpm - state.allowance)
        if state.allowance == 0:
            return state.snapshot((rpm_limit or 0) + 1)  # the minute's limit is reserved: refused
        state.allowance -= 1
        state.drew = True
        return state.snapshot(state.rpm - state.allowance)

    async def seed(self, key_id: str, window: str, spend: float) -> None:
        name = f"{PREFIX}{key_id}:spend:{window}"
        try:
            await self.redis.set(name, repr(spend), nx=True, ex=SPEND_TTL)
            stored = await self.redis.get(name)
        except Exception as exc:
            self._failed(exc)
            await self.fallback.seed(key_id, window, spend)
            return
        state = self.keys.get(key_id)
        if state is not None and state.window == window:
            state.spend = float(stored) if stored else spend

    async def add(self, key_id: str, minute: int, window: str | None, tokens: int, cost: float) -> None:
        self.advance(key_id, minute, window, tokens, cost)

    def advance(self, key_id: str, minute: int, window: str | None, tokens: int, cost: float) -> None:
        if self._down:
            self.fallback.advance(key_id, minute, window, tokens, cost)
        state = self.keys.get(key_id)
        if state is None:  # not checked by this process lately (a key without limits): nothing to limit here
            return
        if minute == state.minute:
            state.tpm_pending += tokens
        if window is not None and window == state.window and state.spend is not None:
            state.spend_pending += cost


# KEYS: rpm, tpm, spend. ARGV: tokens to add, cost to add (added only to a seeded spend counter), requests to
# reserve, the rpm limit, the minute keys' ttl. Returns: granted, rpm, tpm, spend ('' when not seeded).
_SYNC = """
if tonumber(ARGV[1]) > 0 then
  redis.call('incrby', KEYS[2], ARGV[1])
  redis.call('expire', KEYS[2], ARGV[5])
end
if tonumber(ARGV[2]) ~= 0 and redis.call('exists', KEYS[3]) == 1 then
  redis.call('incrbyfloat', KEYS[3], ARGV[2])
end
local rpm = tonumber(redis.call('get', KEYS[1]) or '0')
local granted = 0
local want = tonumber(ARGV[3])
if want > 0 then
  granted = math.min(want, tonumber(ARGV[4]) - rpm)
  if granted > 0 then
    rpm = redis.call('incrby', KEYS[1], granted)
    redis.call('expire', KEYS[1], ARGV[5])
  else
    granted = 0
  end
end
return {granted, rpm, redis.call('get', KEYS[2]) or '0', redis.call('get', KEYS[3]) or ''}
"""
