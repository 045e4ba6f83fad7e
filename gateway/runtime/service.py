"""The session runtime: the lifespan service that runs sessions' turns, and the hooks the handlers call.

* A client's events are stored with the wish to run the session (:class:`gateway.storage.session_runs.Wish`), which
  takes the run lease for this process in the same statement when no other live process holds it; the turn then starts
  here at once. :meth:`Runtime.kick` (sessions created with initial events, deployment runs) records the wish, then
  takes the lease. A process runs a session in one task (:class:`gateway.runtime.driver.SessionRun`) and renews the
  lease every third of ``lease_ttl_seconds``.
* A sweeper looks every ``sweep_seconds`` for sessions with work whose lease is free or expired (their process died)
  and runs them here.
* Self-hosted sessions get a work item on creation, when a user event arrives and the session has no live item, when
  a model request ends with calls for a client, and (after a second) when an item stops while calls still wait.
  Archive and delete stop the session's live items; archive emits ``session.status_terminated``.

Neither storage nor routing imports this package: it sits above both."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from gateway import services
from gateway.keys.service import KEYS_STATE, KeysService
from gateway.ops.drain import Drain
from gateway.runtime import inbox, memory_tool, tools, transcript, web_tools
from gateway.runtime.cloud_tools import CloudTools
from gateway.runtime.config import RuntimeConfig, parse_runtime
from gateway.runtime.driver import Context, Hints, SessionRun
from gateway.runtime.executor import Executor, make_executor, workdir_of
from gateway.runtime.mcp.toolsets import McpToolsets, mcp_toolsets
from gateway.runtime.model import Native
from gateway.runtime.resources import Mounts
from gateway.runtime.server_tools import ServerTools
from gateway.runtime.session_extras import SessionExtras
from gateway.runtime.skills_mount import SkillsMount
from gateway.runtime.threads import Spawner
from gateway.settings import Settings
from gateway.storage import bridge, code_sessions, code_workers, environment_work, session_runs, sessions
from gateway.storage.blobs import DirectoryBlobStore
from gateway.storage.session_events import EventLog
from gateway.storage.store import Record, Store

logger = logging.getLogger("gateway.runtime")
STATE = "runtime"
REQUEUE_DELAY = 1.0


class Runtime:
    def __init__(self, config: RuntimeConfig, store: Store, native: Native) -> None:
        self.config, self.store, self.native = config, store, native
        self.owner = uuid.uuid4().hex[:24]
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.signals: dict[str, asyncio.Event] = {}
        #: sessions whose lease a request took for this process while their task was finishing: run them again
        self._rerun: set[str] = set()
        self.turns = asyncio.Semaphore(config.max_concurrent_turns)
        #: tools the gateway answers itself; the lifespan registers more before the first turn
        self.server_tools = ServerTools()
        self.server_tools.register(tools.SPAWN, Spawner(self._context), cloud_only=False)
        #: runs the built-in toolset on cloud environments (None: the ``none`` behaviour); set by the lifespan
        self.executor: Executor | None = None
        self._background: set[asyncio.Task[None]] = set()
        #: session id -> [lock, users]: one "queue a work item unless it has a live one" at a time per session here
        self._queueing: dict[str, tuple[asyncio.Lock, list[int]]] = {}
        #: the keys service (gateway.keys) when the app runs one; set by the lifespan
        self.keys: KeysService | None = None
        #: the app's drain state (gateway.ops.drain): while it drains, no new session is taken up here
        self.drain: Drain | None = None
        #: what sessions' resources add to their model requests (memory tool, skills); set by the lifespan
        self.extras: SessionExtras | None = None
        #: the agents' MCP servers (gateway.runtime.mcp); set by the lifespan
        self.mcp: McpToolsets | None = None

    @property
    def draining(self) -> bool:
        return self.drain is not None and self.drain.active

    # --- running ------------------------------------------------------------------------------------------------
    async def kick(self, workspace: str, session_id: str) -> None:
        """Record that the session has work and run it (here, unless another process holds its lease)."""
        await session_runs.want(self.store.engine, workspace, session_id)
        if self.config.run_sessions:
            self._spawn(session_id)

    def _spawn(self, session_id: str, lease: session_runs.Lease | None = None, hints: Hints | None = None) -> None:
        """Run the session in a task here (``lease``: already taken for this process; ``hints``: what the caller
        read moments ago, so the first step does not read it again)."""
        task = self.tasks.get(session_id)
        if task is not None and not task.done():
            self.signals[session_id].set()
            self._rerun.add(session_id)
            return
        if self.draining:  # the work is recorded; another process's sweeper (or the next start) takes it
            return
        self.signals[session_id] = asyncio.Event()
        self.tasks[session_id] = asyncio.create_task(self._run(session_id, lease, hints), name=f"session {session_id}")

    async def _run(self, session_id: str, lease: session_runs.Lease | None, hints: Hints | None) -> None:
        engine, ttl = self.store.engine, self.config.lease_ttl_seconds
        if lease is None:
            lease = await session_runs.acquire(engine, session_id, self.owner, ttl)
        me = asyncio.current_task()
        renewer = asyncio.create_task(self._renew(session_id, me))
        try:
            while lease is not None:
                run = SessionRun(self._context(session_id), lease.workspace, session_id, hints=hints)
                hints = None
                self._rerun.discard(session_id)
                try:
                    seen = await run.drive(lease.wanted)
                except asyncio.CancelledError:
                    raise
                except Exception:  # a defect, not a client's or an upstream's error: end the turn visibly
                    logger.exception("session %s: the runtime failed", session_id)
                    seen = await session_runs.wanted(engine, session_id)
                    await self._fail(run)
                more = await session_runs.release(engine, session_id, self.owner, seen)
                # a request that stored events after the release may have taken the lease for this process while
                # this task was still alive (its _spawn only signalled): run again rather than leave it held
                if not more and session_id not in self._rerun:
                    return
                lease = await session_runs.acquire(engine, session_id, self.owner, ttl)
        finally:
            renewer.cancel()
            if self.tasks.get(session_id) is me:
                del self.tasks[session_id]
                self.signals.pop(session_id, None)
                self._rerun.discard(session_id)

    def _context(self, session_id: str) -> Context:
        """What a run of ``session_id`` in this process works with (its signal exists while its task runs)."""
        signal = self.signals.get(session_id) or asyncio.Event()
        return Context(
            self.config,
            self.store,
            self.native,
            self._need_worker,
            signal,
            self.turns,
            self.server_tools,
            self.keys,
            self.extras,
            self.mcp,
        )

    async def _fail(self, run: SessionRun) -> None:
        record = await run._session()
        if record is None:
            return
        error = {
            "type": "unknown_error",
            "message": "the gateway's session runtime failed",
            "retry_status": {"type": "terminal"},
        }
        with contextlib.suppress(Exception):
            await run.append(record, [{"type": "session.error", "error": error}, transcript.idle("end_turn")])

    async def _renew(self, session_id: str, task: asyncio.Task[Any] | None) -> None:
        ttl = self.config.lease_ttl_seconds
        while True:
            await asyncio.sleep(ttl / 3)
            try:
                kept = await session_runs.renew(self.store.engine, session_id, self.owner, ttl)
            except Exception:
                logger.warning("session %s: lease renewal failed", session_id, exc_info=True)
                continue
            if not kept and task is not None:
                logger.warning("session %s: lease lost to another process; stopping here", session_id)
                task.cancel()
                return

    async def sweep_once(self) -> None:
        if self.draining:  # a draining process takes over no session
            return
        for _workspace, session_id in await session_runs.due(self.store.engine):
            if session_id not in self.tasks:
                self._spawn(session_id)

    async def _sweeper(self) -> None:
        while True:
            try:
                await self.sweep_once()
            except Exception:
                logger.warning("runtime sweep failed", exc_info=True)
            await asyncio.sleep(self.config.sweep_seconds)

    def _later(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # --- self-hosted work -----------------------------------------------------------------------------------------
    async def _environment(self, workspace: str, session: Record | Mapping[str, Any]) -> Record | None:
        doc = session.doc if isinstance(session, Record) else session
        return await self.store.get(workspace, "environment", str(doc.get("environment_id")))

    async def _need_worker(
        self, workspace: str, session: Record | Mapping[str, Any], environment: Record | None = None
    ) -> None:
        """Queue a work item unless the session has a live one (self-hosted environments only; ``environment``:
        the session's, when the caller has read it)."""
        environment = environment or await self._environment(workspace, session)
        if environment is None or environment.archived_at is not None:
            return
        if (environment.doc.get("config") or {}).get("type") != "self_hosted":
            return
        session_id = session.id if isinstance(session, Record) else str(session["id"])
        # the check and the enqueue are two statements: a request's call and its turn's (a step that left calls
        # for a client) must not both see no live item and both queue one
        lock, users = self._queueing.setdefault(session_id, (asyncio.Lock(), [0]))
        users[0] += 1
        try:
            async with lock:
                if await environment_work.for_session(self.store, workspace, environment.id, session_id):
                    return
                metadata = (session.doc if isinstance(session, Record) else session).get("metadata")
                await environment_work.enqueue(self.store, workspace, environment.id, session_id, metadata)
        finally:
            users[0] -= 1
            if not users[0]:
                del self._queueing[session_id]

    # --- hooks for the handlers -----------------------------------------------------------------------------------
    async def created(self, workspace: str, session: Mapping[str, Any], *, initial_events: bool) -> None:
        """A session was created (by the API or a deployment run); it runs at once if it has initial events."""
        environment = await self._environment(workspace, session)
        await self._need_worker(workspace, session, environment)
        if initial_events and not bridge.is_bridge(environment):
            await self.kick(workspace, str(session["id"]))

    async def start(self, workspace: str, session_id: str) -> None:
        """A session created elsewhere (a deployment run) with its initial events: queue its work, run it."""
        record = await self.store.get(workspace, sessions.KIND.type, session_id)
        if record is not None:
            await self._need_worker(workspace, record)
            await self.kick(workspace, session_id)

    async def send(self, workspace: str, session_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /v1/sessions/{id}/events``: check, store, and run the session. The transaction that stores the
        events records the wish to run and takes the lease for this process when it is free, and the turn starts
        with the session and environment this request has read. A session whose turns run on a worker
        (:meth:`worker_runs`: a bridge environment's, or a code session with an attached worker) records no wish:
        its events are only stored, and the worker reads them."""
        record = await sessions.KIND.get(self.store, workspace, session_id)
        environment = await self._environment(workspace, record)
        wish = None if await self.worker_runs(workspace, record, environment) else self._wish(workspace, session_id)
        limit = self.config.max_tool_result_bytes
        record, stored = await inbox.accept(self.store, workspace, session_id, body, limit, within=wish, current=record)
        if wish is not None and wish.lease is not None:
            self._spawn(session_id, wish.lease, Hints(record, environment))
        if any(str(e.get("type", "")).startswith("user.") for e in stored["data"]):
            await self._need_worker(workspace, record, environment)
        return stored

    async def send_code(self, workspace: str, record: Record, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """A code-session viewer's events (already translated, private annotations kept): stored, then the turn runs
        on the session's worker if it has one, else here (as :meth:`send`)."""
        environment = await self._environment(workspace, record)
        user = any(str(d.get("type", "")).startswith("user.") for d in docs)
        runs_here = user and not await self.worker_runs(workspace, record, environment)
        wish = self._wish(workspace, record.id) if runs_here else None
        stored = await code_sessions.append(self.store, workspace, record, docs, within=wish)
        if wish is not None and wish.lease is not None:
            self._spawn(record.id, wish.lease, Hints(record, environment))
        if user:
            await self._need_worker(workspace, record, environment)
        return stored

    def _wish(self, workspace: str, session_id: str) -> session_runs.Wish:
        """The wish to run ``session_id``, taking its lease for this process when it may run sessions now."""
        take = self.config.run_sessions and not self.draining
        return session_runs.Wish(workspace, session_id, self.owner if take else None, self.config.lease_ttl_seconds)

    async def worker_runs(self, workspace: str, record: Record, environment: Record | None) -> bool:
        """Whether the session's turns run on a worker rather than here: it is on a bridge environment, or it is a
        code session whose CCR v2 worker is attached (registered and seen within a minute)."""
        if bridge.is_bridge(environment):
            return True
        if isinstance(record.doc.get("_code"), Mapping):
            return code_workers.attached(await code_workers.state(self.store, workspace, record.id))
        return False

    async def closed(self, workspace: str, session: Record, *, deleted: bool) -> None:
        """The session was archived (``deleted=False``) or deleted: stop its work and its turn here."""
        environment_id = str(session.doc.get("environment_id"))
        await environment_work.stop_for_session(self.store, workspace, environment_id, session.id)
        task = self.tasks.get(session.id)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if deleted:
            await session_runs.forget(self.store.engine, session.id)
            await code_workers.purge(self.store, workspace, session.id)
            if self.executor is not None:
                await self.executor.delete(session.id)
            return
        log = EventLog(self.store, workspace)
        await log.append(
            session.id,
            [{"type": "session.status_terminated"}],
            thread_id=session.doc["_thread"]["id"],
            within=sessions.progress_within(workspace, session.id, status="terminated"),
        )

    async def work_stopped(self, workspace: str, item: Mapping[str, Any]) -> None:
        """A work item stopped: if its session still waits for a client's answer, queue another (after a second)."""
        data = item.get("data") or {}
        if item.get("state") != "stopped" or data.get("type") != "session":
            return

        async def requeue() -> None:
            await asyncio.sleep(REQUEUE_DELAY)
            record = await self.store.get(workspace, sessions.KIND.type, str(data.get("id")))
            if record is None or record.archived_at is not None:
                return
            docs = await EventLog(self.store, workspace).docs(record.id)
            if any(log.blocking() for log in transcript.by_thread(docs).values()):
                await self._need_worker(workspace, record)

        self._later(requeue())


@asynccontextmanager
async def runtime_service(settings: Settings, state: Mapping[str, Any]) -> AsyncIterator[Mapping[str, Any]]:
    """Lifespan factory: needs the storage and native services; starts the sweeper, stops every turn on shutdown
    (their leases expire and another process, or the next start, takes them over)."""
    from gateway.native import STATE as NATIVE
    from gateway.storage.service import CONFIG_STATE as STORAGE_CONFIG
    from gateway.storage.service import STATE as STORAGE

    runtime = Runtime(parse_runtime(settings.raw), state[STORAGE], state[NATIVE])
    runtime.mcp = mcp_toolsets(runtime.config, runtime.store, state[STORAGE_CONFIG])
    executor, problem = make_executor(runtime.config, local_mode=settings.local_mode)
    if problem is not None:
        logger.warning("%s", problem)
    if executor is not None:
        runtime.executor = executor
        packages = workdir_of(runtime.config) / ".packages"
        mounts = Mounts(executor, state[STORAGE_CONFIG], runtime.config.github_base_url, runtime.mcp.networks)
        CloudTools(executor, runtime.config.tool_timeout_s, packages, mounts).register(runtime.server_tools)
        logger.info("built-in tools on cloud environments run in the %s executor", executor.name)
    config = runtime.config
    fetch = web_tools.WebFetch(
        config.egress_allowed_networks, config.web_fetch_max_bytes, config.max_output_bytes, config.web_fetch_timeout_s
    )
    web_tools.register(runtime.server_tools, fetch, web_tools.WebSearch(runtime.native, lambda: runtime.keys))
    runtime.server_tools.register(memory_tool.NAME, memory_tool.MemoryTool(runtime.store), cloud_only=False)
    blobs = DirectoryBlobStore(state[STORAGE_CONFIG].blob_dir)
    runtime.extras = SessionExtras(SkillsMount(runtime.store, blobs, executor) if executor is not None else None)
    runtime.keys = state.get(KEYS_STATE)
    ops = state.get("ops")
    runtime.drain = ops.drain if ops is not None else None
    sweeper = asyncio.create_task(
        runtime._sweeper() if runtime.config.run_sessions else asyncio.sleep(0), name="runtime sweeper"
    )
    try:
        yield {STATE: runtime}
    finally:
        sweeper.cancel()
        running = [t for t in runtime.tasks.values() if not t.done()]
        if runtime.drain is not None and runtime.drain.active and running:  # let running turns finish, in the grace
            await asyncio.wait(running, timeout=runtime.drain.remaining())
        held = list(runtime.tasks)
        pending = [*runtime.tasks.values(), *runtime._background]
        for task in pending:
            task.cancel()
        await asyncio.gather(sweeper, *pending, return_exceptions=True)
        for session_id in held:  # hand the sessions over now rather than when their leases expire
            with contextlib.suppress(Exception):
                await session_runs.release(runtime.store.engine, session_id, runtime.owner, 0)
        if executor is not None:
            await executor.close()


def runtime() -> Runtime:
    """The runtime of the current request."""
    value: Runtime = services.from_request(STATE)
    return value
