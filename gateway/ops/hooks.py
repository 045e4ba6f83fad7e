"""What the native service reports about routing and upstream attempts: metrics, spans and the request's facts.

:class:`UpstreamHooks` without metrics or tracing (``UpstreamHooks()``) does nothing, so the native service can
call it unconditionally.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from opentelemetry import trace

from gateway.ops import facts
from gateway.upstream.wire import FailedAttempt

if TYPE_CHECKING:
    from gateway.ops.metrics import Metrics
    from gateway.ops.tracing import Tracing


class UpstreamHooks:
    def __init__(self, metrics: Metrics | None = None, tracing: Tracing | None = None) -> None:
        self.metrics = metrics
        self.tracing = tracing

    @contextmanager
    def routing(self, model: object) -> Iterator[None]:
        """Around the routing decision: a span when tracing."""
        if self.tracing is None:
            yield
            return
        with self.tracing.span("gateway.route", {"gateway.model": str(model)[:200]}):
            yield

    @contextmanager
    def attempt(self, deployment: str) -> Iterator[None]:
        """Around one upstream attempt, up to its response headers: latency and outcome, and a span."""
        started = time.perf_counter()
        outcome = "ok"
        try:
            if self.tracing is None:
                yield
            else:
                attributes = {"gateway.deployment": deployment}
                with self.tracing.span("gateway.upstream_attempt", attributes, kind=trace.SpanKind.CLIENT) as span:
                    try:
                        yield
                    except BaseException as exc:
                        span.set_attribute("gateway.outcome", _outcome(exc))
                        raise
        except BaseException as exc:
            outcome = _outcome(exc)
            raise
        finally:
            if self.metrics is not None:
                self.metrics.upstream_attempts.labels(deployment, outcome).inc()
                if outcome in ("ok", "status"):
                    self.metrics.upstream_latency.labels(deployment).observe(time.perf_counter() - started)

    def cooldown(self, deployment: str) -> None:
        if self.metrics is not None:
            self.metrics.cooldowns.labels(deployment).inc()

    def routed(self, *, group: str, deployment: str, model: str, tier: str, effort: str, attempts: list[str]) -> bool:
        """Tell the access line where the request went; False when no ops middleware listens (no access line)."""
        current = facts.current()
        if current is None:
            return False
        current.route(group=group, deployment=deployment, model=model, tier=tier, effort=effort, attempts=attempts)
        return True


def _outcome(exc: BaseException) -> str:
    if not isinstance(exc, FailedAttempt):
        return "error"
    if exc.status is not None:
        return "status"
    return "timeout" if exc.timeout else "connection"
