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
BUCKET_SECONDS = 60
RETENTION_SECONDS = 7 * 86400


@dataclass
class RequestAccounting:
    clock: Callable[[], float] = time.time
    prefix: str = ""  # the handlers package connexion prefixes resolved operationIds with ("handlers.")
    started_at: float = field(default=0.0)
    totals: Counter[tuple[str, int]] = field(default_factory=Counter)  # (operationId, status) since start
    buckets: dict[int, Counter[str]] = field(default_factory=dict)  # minute -> operationId -> successful requests

    def __post_init__(self) -> None:
        if not self.started_at:
            self.started_at = self.clock()

    def record(self, operation_id: str, status: int) -> None:
        operation_id = operation_id.removeprefix(self.prefix)
        self.totals[(operation_id, status)] += 1
        if 200 <= status < 300:
            minute = int(self.clock() // BUCKET_SECONDS)
            self.buckets.setdefault(minute, Counter())[operation_id] += 1
            self._expire(minute)

    def _expire(self, minute: int) -> None:
        oldest = minute - RETENTION_SECONDS // BUCKET_SECONDS
        if next(iter(self.buckets)) < oldest:  # buckets are created in time order
            for stale in [m for m in self.buckets if m < oldest]:
                del self.buckets[stale]

    def window(self, seconds: int, operations: Iterable[str]) -> tuple[int, float | None]:
        """Successful requests to ``operations`` in the last ``seconds``, and when the oldest of them was made."""
        wanted = set(operations)
        now_minute = int(self.clock() // BUCKET_SECONDS)
        first = now_minute - seconds // BUCKET_SECONDS
        count = 0
        oldest: float | None = None
        for minute, counter in self.buckets.items():
            if minute <= first:
                continue
            n = sum(c for op, c in counter.items() if op in wanted)
            if n:
                count += n
                start = float(minute * BUCKET_SECONDS)
                oldest = start if oldest is None else min(oldest, start)
        return count, oldest

    def by_operation(self) -> dict[str, int]:
        out: Counter[str] = Counter()
        for (operation_id, _status), n in self.totals.items():
            out[operation_id] += n
        return dict(sorted(out.items()))


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
                accounting.record(str(operation_id), status)
