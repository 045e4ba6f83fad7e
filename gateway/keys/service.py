"""The keys service: virtual-key lookup, admission (limits) and spend recording, owned by the app's lifespan.

The interface other parts of the gateway use (the native handlers today; the session runtime can meter its model
calls against the session creator's key the same way)::

    keys: KeysService = state[KEYS_STATE]
    standing = await keys.admit(identity, model, group)  # raises the 429/403 GatewayError, or returns the standing
    # (group: the routing group, or a callable giving it, asked only when the key has a model list)
    ...call the model...
    keys.record(identity, model, usage, deployment=..., request_id=...)  # never blocks; never raises

``identity`` is the authenticated identity connexion hands the handlers (``token_info``): ``{"sub", "workspace"}``
for configuration keys (metered as ``config:<name>``, never limited), plus ``key_id`` for a virtual key.
``record`` advances the key's counters at once (with Redis: this process's view, sent by the counters' own background
sync), so the next request's limits see the call, and appends the spend row to a batch a background task writes
every ``FLUSH_SECONDS`` (counted from the batch's first row) or at ``BATCH_ROWS`` rows, and once more at stop: the
request path never waits for the database, and the writer is not woken for every call.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gateway.errors import AuthenticationFailed, PermissionDenied
from gateway.keys.counters import Counters, MemoryCounters
from gateway.keys.limits import Standing
from gateway.keys.model import VirtualKey, key_hash, looks_like_virtual_key, new_key, preview
from gateway.keys.pricing import Pricing, Usage
from gateway.keys.store import KeyStore, SpendRow
from gateway.settings import Settings
from gateway.storage.store import Store, utcnow

logger = logging.getLogger(__name__)
KEYS_STATE = "keys"
MASTER_KEY_NAME = "master_key"
CACHE_SECONDS = 5.0  # how long a process trusts a key row it read (an update elsewhere is seen within this)
FLUSH_SECONDS = 0.5
BATCH_ROWS = 200
LIFETIME = "life"


@dataclass
class _Uncounted:
    """A virtual key's call whose key this process no longer holds (updated or deleted since its admission): the
    writer reads the key and advances the counters."""

    key_id: str
    tokens: int
    cost: float
    now: float  # epoch seconds of the call


def identity_of() -> dict[str, str]:
    """The authenticated identity of the current request (connexion's ``token_info``; local mode's otherwise)."""
    from connexion.context import context

    try:
        info = context.get("token_info")
    except LookupError:
        info = None
    return _identity(info)


def identity_in(scope: Mapping[str, Any]) -> dict[str, str]:
    """:func:`identity_of` read from the request's scope (``extensions.connexion_context.token_info``, where
    connexion's security check puts it and its context middleware reads it), for code outside a connexion handler."""
    context = (scope.get("extensions") or {}).get("connexion_context")
    return _identity(context.get("token_info") if isinstance(context, Mapping) else None)


def _identity(info: Any) -> dict[str, str]:
    if isinstance(info, Mapping):
        return {str(k): str(v) for k, v in info.items() if isinstance(v, str)}
    return {"sub": "local", "workspace": "default"}


def meter_id(identity: Mapping[str, str]) -> str:
    """The id spend is recorded under: the virtual key's id, ``config:<name>`` for a configuration key."""
    return identity.get("key_id") or f"config:{identity.get('sub', 'local')}"


class KeysService:
    def __init__(self, store: KeyStore, counters: Counters, pricing: Pricing, *, shared: bool) -> None:
        self.store = store
        self.counters = counters
        self.pricing = pricing
        self.shared = shared  # counters in Redis (every process) rather than this process's memory
        self._by_hash: dict[str, tuple[VirtualKey | None, float]] = {}
        self._by_id: dict[str, tuple[VirtualKey, float]] = {}
        #: per key: its current budget window (start and end in epoch seconds, the window, its counter name)
        self._windows: dict[str, tuple[VirtualKey, float, float, tuple[datetime, datetime], str]] = {}
        self._rows: list[SpendRow] = []  # recorded, not written yet
        self._first_at = 0.0  # time.monotonic() of the batch's first row
        self._uncounted: list[_Uncounted] = []
        self._wake = asyncio.Event()  # set by record for a batch's first row and at BATCH_ROWS, and by stop
        self._stopping = False
        self._writer: asyncio.Task[None] | None = None
        #: told each recorded call's (deployment, cost): the ops service's cost metric, when it runs
        self.on_cost: Callable[[str | None, float], None] | None = None

    # -- lifecycle -----------------------------------------------------------------------------------------------
    def start(self) -> None:
        self._stopping = False
        self._wake = asyncio.Event()
        self._writer = asyncio.create_task(self._write_loop(), name="keys-spend-writer")
        self.counters.start()

    async def stop(self) -> None:
        """Write every recorded row, then stop the writer (and send the counters' last increments)."""
        if self._writer is None:
            return
        self._stopping = True
        self._wake.set()
        try:
            await asyncio.wait_for(self._writer, timeout=10)
        except TimeoutError:
            logger.error("the spend writer did not finish within 10 s; %d call(s) unrecorded", len(self._rows))
        self._writer = None
        await self.counters.stop()

    # -- keys ----------------------------------------------------------------------------------------------------
    def _remember(self, digest: str, key: VirtualKey | None) -> None:
        until = time.monotonic() + CACHE_SECONDS
        self._by_hash[digest] = (key, until)
        if key is not None:
            self._by_id[key.id] = (key, until)
        if len(self._by_hash) > 10_000:
            self._by_hash.clear()
            self._by_id.clear()
            self._windows.clear()

    def forget(self, key: VirtualKey) -> None:
        self._by_hash.pop(key.key_hash, None)
        self._by_id.pop(key.id, None)

    async def key(self, key_id: str) -> VirtualKey | None:
        cached = self._by_id.get(key_id)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        key = await self.store.get(key_id)
        if key is not None:
            self._remember(key.key_hash, key)
        return key

    async def identify(self, token: str) -> dict[str, str] | None:
        """The identity of a live virtual key, None for an unknown one; 401 for a blocked or expired one."""
        if not looks_like_virtual_key(token):
            return None
        digest = key_hash(token)
        cached = self._by_hash.get(digest)
        if cached is not None and cached[1] > time.monotonic():
            key = cached[0]
        else:
            key = await self.store.by_hash(digest)
            self._remember(digest, key)
        if key is None or not hmac.compare_digest(key.key_hash, digest):
            return None
        if key.blocked:
            raise AuthenticationFailed("this key is blocked", headers={"x-should-retry": "false"})
        if key.expires is not None and key.expired(utcnow()):
            raise AuthenticationFailed("this key has expired", headers={"x-should-retry": "false"})
        return {"sub": key.key_name or key.id, "workspace": key.workspace, "key_id": key.id}

    async def generate(self, values: Mapping[str, Any]) -> tuple[VirtualKey, str]:
        """A new key; the plaintext is returned here and never again."""
        plaintext = new_key()
        key = await self.store.create(key_hash(plaintext), preview(plaintext), values)
        return key, plaintext

    async def update(self, key_id: str, values: Mapping[str, Any]) -> VirtualKey | None:
        before = await self.store.get(key_id)
        key = await self.store.update(key_id, values)
        for stale in (before, key):
            if stale is not None:
                self.forget(stale)
        return key

    async def delete(self, key_ids: list[str]) -> list[str]:
        for key_id in key_ids:
            cached = self._by_id.get(key_id)
            if cached is not None:
                self.forget(cached[0])
        return await self.store.delete(key_ids)

    # -- admission -----------------------------------------------------------------------------------------------
    def _window(self, key: VirtualKey, now: float) -> tuple[tuple[datetime, datetime] | None, str]:
        """The key's budget window holding ``now`` (epoch seconds; None for a lifetime budget) and its name in the
        counters (the last one computed per key is kept: every request of a key needs it, and it changes once per
        window)."""
        if key.budget_duration is None:
            return None, LIFETIME
        cached = self._windows.get(key.id)
        if cached is not None and cached[0] is key and cached[1] <= now < cached[2]:
            return cached[3], cached[4]
        span = key.budget_window(datetime.fromtimestamp(now, UTC).replace(tzinfo=None))
        if span is None:
            return None, LIFETIME
        start, end = (edge.replace(tzinfo=UTC).timestamp() for edge in span)
        name = str(int(start))
        self._windows[key.id] = (key, start, end, span, name)
        return span, name

    async def standing(self, key: VirtualKey, *, count_request: bool) -> Standing:
        """The key's current counters (counting this request towards rpm when ``count_request``)."""
        now = time.time()
        window, window_name = self._window(key, now)
        snapshot = await self.counters.check(key.id, int(now // 60), window_name, count_request, key.rpm_limit)
        spend = snapshot.spend
        if spend is None:
            spend = await self.store.spend_since(key.id, None if window is None else window[0])
            await self.counters.seed(key.id, window_name, spend)
        return Standing(
            key=key,
            now=now,
            rpm=snapshot.rpm,
            tpm=snapshot.tpm,
            spend=spend,
            reset=None if window is None else window[1],
        )

    async def admit(
        self, identity: Mapping[str, str], model: str, group: str | Callable[[], str | None] | None = None
    ) -> Standing | None:
        """Check the key's model list and limits before a model call: raises the client's error (403, 429), or
        returns the standing whose headers the answer carries (None for a key without limits)."""
        key_id = identity.get("key_id")
        if not key_id:
            return None
        key = await self.key(key_id)
        if key is None:
            raise AuthenticationFailed("this key was deleted", headers={"x-should-retry": "false"})
        if key.models and not key.allows(model, group() if callable(group) else group):
            raise PermissionDenied(f"this key may not use model {model}")
        if key.max_budget is None and key.rpm_limit is None and key.tpm_limit is None:
            return None
        standing = await self.standing(key, count_request=True)
        refusal = standing.refusal()
        if refusal is not None:
            raise refusal
        return standing

    # -- spend ---------------------------------------------------------------------------------------------------
    def record(
        self,
        identity: Mapping[str, str],
        model: str,
        usage: Usage,
        *,
        params: Mapping[str, Any] | None = None,
        upstream_model: str | None = None,
        deployment: str | None = None,
        request_id: str | None = None,
    ) -> float:
        """Record one model call's spend (never blocks, never raises); returns its cost in USD.

        The key's counters are advanced here, so limits see the call at once; the row joins the batch the writer
        writes (woken only for a batch's first row and when the batch is full: not for every call)."""
        cost = self.pricing.price(model, params, upstream_model).cost(usage)
        if self.on_cost is not None and cost > 0:
            try:
                self.on_cost(deployment, cost)
            except Exception:  # a metric must not fail a request
                logger.warning("cost metric update failed", exc_info=True)
        now = time.time()
        at = datetime.fromtimestamp(now, UTC).replace(tzinfo=None)  # the row's time (utcnow's), from the same clock
        key_id = identity.get("key_id")
        if key_id:
            cached = self._by_id.get(key_id)  # the key as admitted (held even when older than CACHE_SECONDS)
            if cached is None:
                self._uncounted.append(_Uncounted(key_id, usage.total, cost, now))
                self._wake.set()
            else:
                self._advance(key_id, cached[0], now, usage.total, cost)
        rows = self._rows
        if not rows:
            self._first_at = time.monotonic()
        rows.append(
            SpendRow(  # positional, in spend_logs' column order (a NamedTuple: the driver's parameter row)
                request_id or f"call_{secrets.token_hex(12)}",
                meter_id(identity),
                identity.get("sub"),
                identity.get("workspace") or "default",
                model,
                deployment,
                usage.input_tokens,
                usage.output_tokens,
                usage.cache_creation_input_tokens,
                usage.cache_read_input_tokens,
                cost,
                at,
            )
        )
        if len(rows) == 1 or len(rows) == BATCH_ROWS:
            self._wake.set()
        return cost

    def _advance(self, key_id: str, key: VirtualKey | None, now: float, tokens: int, cost: float) -> None:
        """Count a recorded call: tokens this minute, and the spend of the budget window (of the key, when known)."""
        with suppress(Exception):  # counters are best effort; the rows are the record
            window = None if key is None else self._window(key, now)[1]
            self.counters.advance(key_id, int(now // 60), window, tokens, cost)

    async def _write_loop(self) -> None:
        """Write the recorded rows FLUSH_SECONDS after a batch's first row, at BATCH_ROWS rows, and at stop (until
        none is left); count the calls whose key ``record`` did not hold."""
        while True:
            if not self._stopping and len(self._rows) < BATCH_ROWS and not self._uncounted:
                wait = FLUSH_SECONDS - (time.monotonic() - self._first_at) if self._rows else None
                if wait is None or wait > 0:
                    self._wake.clear()
                    with suppress(TimeoutError):
                        async with asyncio.timeout(wait):
                            await self._wake.wait()
            stopping = self._stopping
            while self._uncounted:
                uncounted, self._uncounted = self._uncounted, []
                for call in uncounted:
                    with suppress(Exception):
                        self._advance(call.key_id, await self.key(call.key_id), call.now, call.tokens, call.cost)
            due = stopping or len(self._rows) >= BATCH_ROWS or time.monotonic() - self._first_at >= FLUSH_SECONDS
            if self._rows and due:
                batch, self._rows = self._rows, []
                await self._write(batch)
            if stopping and not self._rows:
                return

    async def _write(self, batch: list[SpendRow]) -> None:
        for attempt in range(3):
            try:
                await self.store.write_spend(batch)
                return
            except Exception:
                logger.warning("spend write failed (attempt %d of 3)", attempt + 1, exc_info=True)
                await asyncio.sleep(0.2 * (attempt + 1))
        logger.error("%d spend row(s) could not be written and are lost", len(batch))


@asynccontextmanager
async def keys_service(settings: Settings, state: Mapping[str, Any]) -> AsyncIterator[Mapping[str, Any]]:
    """Lifespan factory (after storage): counters in Redis when ``router_settings.redis_url`` is set."""
    from gateway.routing.config import parse_routing
    from gateway.storage.service import STATE as STORAGE_STATE

    store = state[STORAGE_STATE]
    if not isinstance(store, Store):
        raise RuntimeError("the keys service needs the storage service")
    redis_url = parse_routing(settings.raw).redis_url
    redis: Any = None
    counters: Counters = MemoryCounters()
    if redis_url:
        from redis import asyncio as redis_asyncio

        from gateway.keys.synced import SyncedCounters

        redis = redis_asyncio.from_url(redis_url, socket_timeout=0.5, socket_connect_timeout=0.5)
        counters = SyncedCounters(redis)
    service = KeysService(KeyStore(store.engine), counters, Pricing(), shared=redis is not None)
    ops = state.get("ops")  # gateway.ops (started before this service): spend feeds its cost metric
    if ops is not None:
        cost = ops.metrics.cost
        service.on_cost = lambda deployment, usd: cost.labels(deployment or "").inc(usd)
    service.start()
    try:
        yield {KEYS_STATE: service}
    finally:
        await service.stop()
        if redis is not None:
            await redis.aclose()
