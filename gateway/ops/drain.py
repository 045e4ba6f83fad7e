"""Graceful drain on SIGTERM.

The first SIGTERM (or SIGINT) starts a drain in every app of the process (:func:`begin_all`):

1. readiness (``/readyz`` 503, ``/health/readiness`` ``not_ready``) says so at once, and the process keeps accepting
   connections for ``ops.drain_announce_seconds`` (default 0) so that a load balancer can take it out first;
2. then uvicorn stops accepting, closes idle keep-alive connections and waits up to ``ops.drain_grace_seconds``
   for open requests and streams; the session runtime takes no new work (its sweeper stops, new turns are left to
   other processes) and running turns may finish within the same grace period; their leases are released at exit;
3. when the grace period ends, or at a second SIGTERM, what is still open ends: an SSE response gets an ``error``
   event (``overloaded_error``, the gateway is shutting down) and a proper end, never a silent truncation; then
   the process exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Iterator
from types import FrameType

import uvicorn

logger = logging.getLogger("gateway.ops")

_DRAINS: list[Drain] = []


class Drain:
    """The drain state of one app."""

    def __init__(self, grace_seconds: float) -> None:
        self.grace_seconds = grace_seconds
        self.started_at: float | None = None
        self.forced = False
        self.streams: set[asyncio.Task[object]] = set()

    @property
    def active(self) -> bool:
        return self.started_at is not None

    def begin(self) -> None:
        if self.started_at is None:
            self.started_at = time.monotonic()
            logger.info("drain started: %d open stream(s), grace %g s", len(self.streams), self.grace_seconds)

    def remaining(self) -> float:
        """Seconds left of the grace period (the whole period before a drain starts)."""
        if self.started_at is None:
            return self.grace_seconds
        return max(0.0, self.grace_seconds - (time.monotonic() - self.started_at))

    def force(self) -> None:
        """End every open stream now (they get an SSE error event)."""
        self.begin()
        self.forced = True
        for task in list(self.streams):
            task.cancel()


def register(drain: Drain) -> None:
    _DRAINS.append(drain)


def unregister(drain: Drain) -> None:
    if drain in _DRAINS:
        _DRAINS.remove(drain)


def begin_all() -> None:
    for drain in list(_DRAINS):
        drain.begin()


def force_all() -> None:
    for drain in list(_DRAINS):
        drain.force()


def draining() -> bool:
    return any(d.active for d in _DRAINS)


class DrainingServer(uvicorn.Server):
    """uvicorn's server with the drain above: the first signal drains (after the announce delay), a second one
    ends open streams. uvicorn itself waits ``timeout_graceful_shutdown`` (the grace period) and then cancels what
    is left, which ends open streams the same way."""

    def __init__(self, config: uvicorn.Config, announce_seconds: float = 0.0) -> None:
        super().__init__(config)
        self.announce_seconds = announce_seconds
        self._exit_at: float | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig not in (signal.SIGTERM, signal.SIGINT):
            super().handle_exit(sig, frame)
            return
        if draining():
            logger.warning("second signal during the drain: ending open streams")
            force_all()
            self.should_exit = True
            return
        begin_all()
        if self.announce_seconds > 0:
            self._exit_at = time.monotonic() + self.announce_seconds
        else:
            super().handle_exit(sig, frame)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """uvicorn's, without re-raising the signal after the shutdown: a drained process exits 0."""
        with super().capture_signals():
            yield
            self._captured_signals.clear()

    async def on_tick(self, counter: int) -> bool:
        if self._exit_at is not None and time.monotonic() >= self._exit_at:
            self.should_exit = True
        return await super().on_tick(counter)
