"""Graceful drain on SIGTERM.

The first SIGTERM (or SIGINT) starts a drain in every app of the process (:func:`begin_all`):

1. readiness (``/readyz`` 503, ``/health/readiness`` ``not_ready``) says so at once, and the process keeps accepting
   connections for ``ops.drain_announce_seconds`` (default 0) so that a load balancer can take it out first;
2. then uvicorn stops accepting, closes idle keep-alive connections and waits up to ``ops.drain_grace_seconds``
   for open requests and streams. Event-stream subscriptions (a session's or a code session's event stream, which
   only end when their session does) end at this point with the ``error`` event of step 3: waiting cannot finish
   them, and a client can resume on another process with ``Last-Event-ID``. The session runtime takes no new work (its
   sweeper stops, new turns are left to other processes) and running turns may finish within the same grace
   period; their leases are released at exit;
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
from collections.abc import Callable, Iterator
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
        self.subscriptions: set[asyncio.Task[object]] = set()
        self.closing = False  # the server stopped accepting: subscriptions end

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

    def subscribe(self, task: asyncio.Task[object]) -> None:
        """An open subscription stream: ended at once if the server already stopped accepting."""
        self.subscriptions.add(task)
        if self.closing:
            task.cancel()

    def close(self) -> None:
        """The server stopped accepting: end the subscription streams (they get an SSE error event)."""
        self.begin()
        self.closing = True
        for task in list(self.subscriptions):
            task.cancel()

    def force(self) -> None:
        """End every open stream now (they get an SSE error event)."""
        self.close()
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


def close_all() -> None:
    for drain in list(_DRAINS):
        drain.close()


def force_all() -> None:
    for drain in list(_DRAINS):
        drain.force()


def _soon(action: Callable[[], None]) -> None:
    """Run ``action`` on the event loop, not inside the signal handler that asked for it (a handler runs between
    two bytecodes of whatever the loop was doing, which may be the loop's own bookkeeping)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        action()
        return
    loop.call_soon_threadsafe(action)


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
            _soon(force_all)
            self.should_exit = True
            return
        begin_all()
        if self.announce_seconds > 0:
            self._exit_at = time.monotonic() + self.announce_seconds
        else:
            _soon(close_all)
            super().handle_exit(sig, frame)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """uvicorn's, without re-raising the signal after the shutdown: a drained process exits 0."""
        with super().capture_signals():
            yield
            self._captured_signals.clear()

    async def on_tick(self, counter: int) -> bool:
        if self._exit_at is not None and time.monotonic() >= self._exit_at:
            self._exit_at = None
            close_all()
            self.should_exit = True
        return await super().on_tick(counter)
