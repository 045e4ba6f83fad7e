"""The deployment scheduler: a lifespan service that fires the cron schedules of deployments.

Every ``scheduler_tick_seconds`` (the ``runtime:`` section; default 15)::

    runtime:
      scheduler_tick_seconds: 15

it calls :func:`gateway.storage.deployments.fire_schedules` for the window ``(previous tick, now]``, which creates one
session and one run per due occurrence (each occurrence at most once, also across gateway processes on one database)
and hands each new session to the session runtime (the lifespan-state entry ``runtime``, looked up when a session
starts, so the runtime may start before or after this service; without one the sessions are only stored).

Windows, and what is not fired (no backfill):

- a fresh process (a start or restart) looks back one tick: an occurrence that fell while no gateway was running is
  fired only if it is at most one tick old; older missed occurrences are skipped, never fired late in a burst;
- a process whose ticks stalled (a suspended machine, a blocked loop) looks back at most two ticks;
- a deployment's own schedule starts when it was created, its schedule changed or it was unpaused (see
  :mod:`gateway.storage.deployments`), so those never fire an occurrence from before that moment.

An occurrence fires within one tick after its time. The clock is injectable (``clock``), and :meth:`tick` takes the
current time, so tests fire occurrences at chosen moments.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from gateway.settings import ConfigError, Settings, ValueParser
from gateway.storage import deployments
from gateway.storage.deployments import StartSession
from gateway.storage.store import Store

logger = logging.getLogger(__name__)

STATE = "deployment_scheduler"
RUNTIME_STATE = "runtime"  # the session runtime's lifespan-state entry (it has ``async start(workspace, session_id)``)
DEFAULT_TICK_SECONDS = 15.0
Clock = Callable[[], datetime]


@dataclass(frozen=True)
class SchedulerConfig:
    tick_seconds: float = DEFAULT_TICK_SECONDS


def parse_scheduler(raw: Mapping[str, Any], *, environ: Mapping[str, str] | None = None) -> SchedulerConfig:
    """``runtime.scheduler_tick_seconds`` (a positive number of seconds); other ``runtime:`` keys are the runtime's."""
    parser = ValueParser(os.environ if environ is None else environ, Path.cwd())
    section = parser.mapping(raw.get("runtime"), "runtime")
    path = "runtime.scheduler_tick_seconds"
    tick = parser.number(section.get("scheduler_tick_seconds"), path, DEFAULT_TICK_SECONDS)
    if tick <= 0:
        raise ConfigError(f"{path}: must be a positive number")
    return SchedulerConfig(tick_seconds=tick)


def session_starter(runtime: Any) -> StartSession | None:
    """The session runtime's ``start`` (None without a runtime): what a deployment run hands its session to."""
    if runtime is None:
        return None
    start: StartSession = runtime.start
    return start


def utc_now() -> datetime:
    return datetime.now(UTC)


class DeploymentScheduler:
    """Ticks: fires the occurrences due since its previous tick (see the module docstring)."""

    def __init__(
        self,
        store: Store,
        *,
        tick_seconds: float = DEFAULT_TICK_SECONDS,
        clock: Clock = utc_now,
        start_session: StartSession | None = None,
    ) -> None:
        self.store = store
        self.tick_seconds = tick_seconds
        self.clock = clock
        self.start_session = start_session
        self.previous: datetime | None = None
        self._task: asyncio.Task[None] | None = None

    async def tick(self, now: datetime | None = None) -> list[dict[str, Any]]:
        """Fire what is due at ``now`` (default: the clock); returns the runs recorded by this tick."""
        now = self.clock() if now is None else now
        period = timedelta(seconds=self.tick_seconds)
        since = now - period if self.previous is None else max(self.previous, now - 2 * period)
        runs = await deployments.fire_schedules(self.store, since=since, now=now, start_session=self.start_session)
        self.previous = now if self.previous is None else max(self.previous, now)
        return runs

    async def _loop(self) -> None:
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database may be briefly away; the next tick covers the window again
                logger.exception("deployment scheduler tick failed; retrying at the next tick")
            await asyncio.sleep(self.tick_seconds)

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="deployment-scheduler")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None


@asynccontextmanager
async def deployment_scheduler(
    store: Store,
    *,
    tick_seconds: float = DEFAULT_TICK_SECONDS,
    clock: Clock = utc_now,
    start_session: StartSession | None = None,
) -> AsyncIterator[DeploymentScheduler]:
    """A running scheduler (its first tick at once); stopped on exit."""
    scheduler = DeploymentScheduler(store, tick_seconds=tick_seconds, clock=clock, start_session=start_session)
    scheduler.start()
    try:
        yield scheduler
    finally:
        await scheduler.close()


@asynccontextmanager
async def scheduler_service(settings: Settings, state: Mapping[str, Any]) -> AsyncIterator[Mapping[str, Any]]:
    """Lifespan factory: needs the storage service before it (its store in ``state``)."""
    from gateway.storage.service import STATE as STORE_STATE

    config = parse_scheduler(settings.raw)

    async def start_session(workspace: str, session_id: str) -> None:
        # looked up per session: ``state`` is the lifespan state that later services (the runtime) still fill
        starter = session_starter(state.get(RUNTIME_STATE))
        if starter is not None:
            await starter(workspace, session_id)

    async with deployment_scheduler(
        state[STORE_STATE], tick_seconds=config.tick_seconds, start_session=start_session
    ) as scheduler:
        yield {STATE: scheduler}
