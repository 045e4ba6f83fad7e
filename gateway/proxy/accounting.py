"""The gateway's own request accounting: requests per operation, in per-minute buckets kept for seven days.

:class:`AccountingMiddleware` (pure ASGI, stateless) records every HTTP request once its response has started: the
operationId connexion routed it to (read from ``scope["extensions"]["connexion_routing"]``) and the status. The
counts live in the :class:`RequestAccounting` object the proxy service puts in the lifespan state; without it (a
lifespan that did not run) the middleware does nothing. Local-mode ``/api/oauth/usage`` is computed from these
counts. In memory only: a restart starts from zero.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from starlette.types import ASGIApp, Message, Receive, Scope, Send

ACCOUNTING_STATE = "request_accounting"
ROUTING_EXTENSION = "connexion_routing"
CONTEXT_EXTENSION = "connexion_context"
BUCKET_SECONDS = 60
RETENTION_SECONDS = 7 * 86400


@dataclass
class RequestAccounting:
    clock: Callable[[], float] = time.time
    prefix: str = ""  # the handlers package connexion prefixes resolved operationIds with ("handlers.")
    started_at: float = field(default=0.0)
    totals: Counter[tuple[str, str, int]] = field(default_factory=Counter)  # (key, operationId, status) since start
    buckets: dict[int, Counter[tuple[str, str]]] = field(default_factory=dict)  # minute -> (key, op) -> 2xx count

    def __post_init__(self) -> None:
        if not self.started_at:
            self.started_at = self.clock()

    def record(self, operation_id: str, status: int, key: str = "") -> None:
        """One request to ``operation_id`` answered ``status``, made with the gateway key named ``key`` ("" when no
        key identified it; ``local`` in local mode)."""
        operation_id = operation_id.removeprefix(self.prefix)
        self.totals[(key, operation_id, status)] += 1
        if 200 <= status < 300:
            minute = int(self.clock() // BUCKET_SECONDS)
            self.buckets.setdefault(minute, Counter())[(key, operation_id)] += 1
            self._expire(minute)

    def _expire(self, minute: int) -> None:
        oldest = minute - RETENTION_SECONDS // BUCKET_SECONDS
        if next(iter(self.buckets)) < oldest:  # buckets are created in time order
            for stale in [m for m in self.buckets if m < oldest]:
                del self.buckets[stale]

    def window(self, seconds: int, operations: Iterable[str], key: str | None = None) -> tuple[int, float | None]:
        """Successful requests to ``operations`` in the last ``seconds`` (made with key ``key``; None: any), and
        when the oldest of them was made."""
        wanted = {(k, op) for op in operations for k in ([key] if key is not None else self._keys())}
        now_minute = int(self.clock() // BUCKET_SECONDS)
        first = now_minute - seconds // BUCKET_SECONDS
        count = 0
        oldest: float | None = None
        for minute, counter in self.buckets.items():
            if minute <= first:
                continue
            n = sum(c for pair, c in counter.items() if pair in wanted)
            if n:
                count += n
                start = float(minute * BUCKET_SECONDS)
                oldest = start if oldest is None else min(oldest, start)
        return count, oldest

    def by_operation(self, key: str | None = None) -> dict[str, int]:
        out: Counter[str] = Counter()
        for (made_with, operation_id, _status), n in self.totals.items():
            if key is None or made_with == key:
                out[operation_id] += n
        return dict(sorted(out.items()))

    def _keys(self) -> set[str]:
        return {k for k, _op, _status in self.totals}


def key_name(scope: Scope) -> str:
    """The name of the gateway key connexion's security check identified for this request ("" if none did)."""
    context = (scope.get("extensions") or {}).get(CONTEXT_EXTENSION) or {}
    info = context.get("token_info") if isinstance(context, dict) else None
    name = info.get("sub") if isinstance(info, dict) else None
    return name if isinstance(name, str) else ""


class AccountingMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # connexion's router works on a shallow copy of the scope; a shared extensions dict lets us read its result
        scope.setdefault("extensions", {})
        status = 0

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            accounting = (scope.get("state") or {}).get(ACCOUNTING_STATE)
            routing = (scope.get("extensions") or {}).get(ROUTING_EXTENSION) or {}
            operation_id = routing.get("operation_id")
            if isinstance(accounting, RequestAccounting) and operation_id and status:
                accounting.record(str(operation_id), status, key_name(scope))
