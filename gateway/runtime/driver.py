"""Running one session: read its log, do what :func:`gateway.runtime.transcript.plan` says, until nothing is left.

The caller holds the session's run lease (:mod:`gateway.storage.session_runs`). Events of one model request are
stored in one append when the request completes (previews are streamed while it runs), so a process that dies
mid-request leaves only a ``span.model_request_start`` behind, which the next owner closes (``is_error``) before it
retries: nothing is lost and nothing is stored twice."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.keys.service import KeysService
from gateway.runtime import metered, model, tools, transcript
from gateway.runtime.assemble import assemble
from gateway.runtime.config import RuntimeConfig
from gateway.runtime.inbox import truncate
from gateway.runtime.mcp.toolsets import McpToolsets, reported
from gateway.runtime.previews import EVENT_PREFIX, Previews
from gateway.runtime.server_tools import Outcome, ServerCall, ServerTools
from gateway.runtime.session_extras import SessionExtras
from gateway.storage import session_runs, sessions
from gateway.storage.session_events import EventLog
from gateway.storage.store import Record, Store, new_id

logger = logging.getLogger("gateway.runtime")

ERROR_TYPES = {529: "model_overloaded_error", 429: "model_rate_limited_error"}
#: how often a running model request looks for an interrupt stored by another process
INTERRUPT_POLL = 0.5


@dataclass
class Context:
    config: RuntimeConfig
    store: Store
    native: model.Native
    #: (workspace, session record) -> None: make sure a self-hosted worker will look at the session
    need_worker: Callable[[str, Record], Awaitable[None]]
    #: set when a client event for the session arrives in this process (wakes back-off sleeps, interrupt checks)
    signal: asyncio.Event
    turns: asyncio.Semaphore
    server_tools: ServerTools
    #: the keys service (gateway.keys), when the app runs one: model calls are metered against the session's key
    keys: KeysService | None = None
    #: what the session's resources add to its model requests (memory tool, skills); set by the lifespan
    extras: SessionExtras | None = None
    #: the agents' MCP toolsets (gateway.runtime.mcp), when the runtime reaches MCP servers
    mcp: McpToolsets | None = None


def _error(failure: model.ModelFailure, retry: str) -> dict[str, Any]:
    # a spent budget of the session's key (gateway.keys) is the Managed Agents ``billing_error``
    kind = "billing_error" if failure.error_type == "billing_error" else None
    kind = kind or ERROR_TYPES.get(failure.status, "model_request_failed_error")
    message = f"model request failed ({failure.status} {failure.error_type}): {failure.message}"
    return {"type": "session.error", "error": {"type": kind, "message": message, "retry_status": {"type": retry}}}


#: a child thread's log has thread status events where the primary's has session status events
THREAD_STATUS = {
    "session.status_running": "session.thread_status_running",
    "session.status_idle": "session.thread_status_idle",
    "session.status_rescheduled": "session.thread_status_rescheduled",
    "session.status_terminated": "session.thread_status_terminated",
}


@dataclass(frozen=True)
class Thread:
    """A child thread a run drives: its id, its agent's name and definition."""

    id: str
    name: str
    agent: Mapping[str, Any]

    def event(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """``event`` as this thread emits it."""
        out = {**event, "session_thread_id": self.id}
        kind = THREAD_STATUS.get(str(event.get("type")))
        if kind is not None:
            out["type"], out["agent_name"] = kind, self.name
        return out


def _release(task: asyncio.Future[Any], previews: Previews) -> None:
    """Publish the request's previews once its start is stored (never when storing it failed)."""
    if not task.cancelled() and task.exception() is None:
        previews.release()


def failed_end(start_id: str, **extra: Any) -> dict[str, Any]:
    usage = dict.fromkeys(model.USAGE_KEYS, 0)
    return {
        "type": "span.model_request_end",
        "model_request_start_id": start_id,
        "is_error": True,
        "model_usage": usage,
        **extra,
    }


@dataclass(frozen=True)
class Hints:
    """What the request that started a run has just read: the live session (before its events were stored; the
    fields a run uses do not change with events) and, when read, its environment."""

    session: Record
    environment: Record | None = None


class SessionRun:
    """The runtime of one session's thread: the primary (``thread=None``) or a child thread."""

    def __init__(
        self, ctx: Context, workspace: str, session_id: str, thread: Thread | None = None, hints: Hints | None = None
    ) -> None:
        self.ctx, self.workspace, self.session_id, self.thread = ctx, workspace, session_id, thread
        self.log = EventLog(ctx.store, workspace)
        self._environment_of: dict[str, Record | None] = {}  # environment id -> record, read once per run
        self._hinted: Record | None = None
        #: the ``wanted`` count read before the log this step plans from (primary runs driven by :meth:`drive`)
        self._seen: int | None = None
        if hints is not None:
            self._hinted = hints.session
            if hints.environment is not None:
                self._environment_of[hints.environment.id] = hints.environment

    def thread_id(self, record: Record) -> str:
        return self.thread.id if self.thread is not None else str(record.doc["_thread"]["id"])

    async def read(self, record: Record) -> transcript.Log:
        return transcript.read(await self.log.docs(self.session_id, thread_id=self.thread_id(record)))

    async def _session(self) -> Record | None:
        if self._hinted is not None:  # the first step of a run a request started: it has just read the session
            hinted, self._hinted = self._hinted, None
            return hinted
        record = await self.ctx.store.get(self.workspace, sessions.KIND.type, self.session_id)
        return None if record is None or record.archived_at is not None else record

    async def append(
        self,
        record: Record,
        events: list[dict[str, Any]],
        usage: Mapping[str, int] | None = None,
        *,
        more: Callable[[AsyncConnection], Awaitable[list[dict[str, Any]]]] | None = None,
    ) -> list[dict[str, Any]]:
        """Store ``events`` in the thread; a status among them and ``usage`` move the session (thread) in the same
        transaction, so a client that sees the status event also sees the session's status. ``more``: a step of
        that transaction, before the insert, that returns events to store after ``events``."""
        if self.thread is not None:
            events = [self.thread.event(e) for e in events]
        added: list[dict[str, Any]] = []

        async def extra(conn: AsyncConnection) -> list[dict[str, Any]]:
            chosen = await more(conn) if more is not None else []
            added[:] = [self.thread.event(e) for e in chosen] if self.thread is not None else chosen
            return added

        async def within(conn: AsyncConnection) -> None:
            kinds = [e.get("type") for e in (*events, *added)]
            statuses = [transcript.STATUS_OF[k] for k in kinds if k in transcript.STATUS_OF]
            if statuses or usage:
                progress = sessions.progress_within(
                    self.workspace,
                    self.session_id,
                    status=statuses[-1] if statuses else None,
                    usage=usage,
                    thread_id=self.thread.id if self.thread is not None else None,
                )
                await progress(conn)

        return await self.log.append(
            self.session_id,
            events,
            thread_id=self.thread_id(record),
            within=within,
            more=extra if more is not None else None,
        )

    async def drive(self, seen: int | None = None) -> int:
        """Run until the plan says Done (or the session is gone); returns the ``wanted`` count seen last (``seen``:
        the count the lease was taken with, read before this run looked at the log)."""
        while True:
            if seen is None:
                seen = await session_runs.wanted(self.ctx.store.engine, self.session_id)
            self._seen = seen
            self.ctx.signal.clear()
            if not await self.advance():
                return seen
            seen = None

    async def advance(self) -> bool:
        """Do what the thread's log says to do next; False when there is nothing to do (or the session is gone)."""
        record = await self._session()
        if record is None:
            return False
        log = await self.read(record)
        action = transcript.plan(log)
        if isinstance(action, transcript.Done):
            return False
        if isinstance(action, transcript.Emit):
            await self.append(record, action.events)
        elif isinstance(action, transcript.RunTools):
            await self.run_tools(record, log, action)
        elif not action.attempt or await self._back_off(log, action.attempt):
            # a step that stored the turn's idle leaves nothing to do: no need to read the log again to learn it
            # (a client event that arrived meanwhile bumped ``wanted``, so the lease's release runs the session again)
            return not await self.step(record, log, running=action.running, attempt=action.attempt)
        # else: a client event arrived during the back-off (an interrupt?): plan again
        return True

    async def _back_off(self, log: transcript.Log, attempt: int) -> bool:
        """Sleep before retry ``attempt``; False when woken early by a client event."""
        delay = self.ctx.config.retry_backoff_seconds * 2 ** (attempt - 1)
        last = log.last_step.end if log.last_step is not None else None
        retry_after = (last or {}).get("_retry_after")
        if isinstance(retry_after, (int, float)):
            delay = max(delay, float(retry_after))
        try:
            await asyncio.wait_for(self.ctx.signal.wait(), timeout=delay)
        except TimeoutError:
            return True
        return False

    def request_body(self, record: Record, log: transcript.Log) -> tuple[dict[str, Any], dict[str, tools.Offered]]:
        if self.thread is not None:
            agent, roster = self.thread.agent, None  # child threads spawn no threads of their own
        else:
            agent = record.doc.get("agent") or {}
            roster = tools.roster(agent)
        offered = tools.offered(agent.get("tools") or [], roster)
        model_config = agent.get("model") or {}
        body: dict[str, Any] = {
            "model": str(model_config.get("id")),
            "max_tokens": self.ctx.config.max_tokens,
            "stream": True,
            "messages": transcript.messages(log),
        }
        if agent.get("system"):
            body["system"] = agent["system"]
        if offered:
            body["tools"] = [t.definition for t in offered.values()]
        effort = model_config.get("effort")
        if isinstance(effort, Mapping) and isinstance(effort.get("type"), str):
            body["output_config"] = {"effort": effort["type"]}
        return body, offered

    async def _environment(self, record: Record) -> Record | None:
        environment_id = str(record.doc.get("environment_id"))
        if environment_id not in self._environment_of:
            self._environment_of[environment_id] = await self.ctx.store.get(
                self.workspace, "environment", environment_id
            )
        return self._environment_of[environment_id]

    async def run_tools(self, record: Record, log: transcript.Log, action: transcript.RunTools) -> None:
        """Run the server calls one by one, storing each result as it comes; an interrupt stops between or during
        calls (the rest are then abandoned with the turn)."""
        if action.running:
            await self.append(record, [{"type": "session.status_running"}])
        environment = await self._environment(record)
        interrupts = sum(1 for e in log.events if e.get("type") == "user.interrupt")
        for call in action.calls:
            server_call = ServerCall(self.workspace, record, environment, log.events[call.index])
            task = asyncio.ensure_future(self._run_tool(server_call))
            try:
                interrupted = await self._watch(task, interrupts)
            finally:
                if not task.done():
                    task.cancel()
                    await asyncio.gather(task, return_exceptions=True)
            if interrupted:
                return
            outcome = task.result()
            mcp = call.type == "agent.mcp_tool_use"
            result = {
                "type": "agent.mcp_tool_result" if mcp else "agent.tool_result",
                "mcp_tool_use_id" if mcp else "tool_use_id": call.event_id,
                "content": outcome.content,
                "is_error": outcome.is_error,
            }
            events = [truncate(result, self.ctx.config.max_tool_result_bytes)]
            if outcome.ends_turn is not None:  # the environment cannot serve the session (gateway.runtime.failures)
                events += [{"type": "session.error", "error": outcome.ends_turn}, transcript.idle("end_turn")]
            await self.append(record, events)
            if outcome.ends_turn is not None:
                return

    async def _run_tool(self, call: ServerCall) -> Outcome:
        try:
            if call.event.get("type") == "agent.mcp_tool_use":
                if self.ctx.mcp is None:
                    return Outcome.text("this gateway does not reach MCP servers", is_error=True)
                return await self.ctx.mcp(call)
            return await self.ctx.server_tools.run(call)
        except asyncio.CancelledError:
            raise
        except Exception:  # a defect of the tool: the model reads an error, the session goes on
            logger.exception("session %s: server tool %r failed", self.session_id, call.name)
            return Outcome.text(f"the gateway failed to run the tool {call.name!r}", is_error=True)

    async def step(self, record: Record, log: transcript.Log, *, running: bool, attempt: int) -> bool:
        """One model request and the events it produces; True when they end the turn (an idle was stored)."""
        body, offered = self.request_body(record, log)
        environment = await self._environment(record)
        cloud = ((environment.doc.get("config") or {}).get("type") if environment else "cloud") != "self_hosted"
        if self.ctx.extras is not None:
            await self.ctx.extras.apply(self.workspace, record, body, offered, cloud=cloud)
        prelude = [{"type": "session.status_running"}] if running else []
        prelude += await self._offer_mcp(record, log, environment, body, offered)
        # the model request starts while its start (and the prelude) is stored: every later append of the step
        # waits for that store first, so the order holds; a process that dies before it is stored leaves nothing
        # of the step behind (the next owner runs it again), after it only the start (the next owner closes it)
        start_id = new_id(EVENT_PREFIX)
        previews = Previews(self.ctx.store.bus, self.session_id, publish=self.thread is None, held=True)
        started = asyncio.ensure_future(
            self.append(record, [*prelude, {"type": "span.model_request_start", "id": start_id}])
        )
        started.add_done_callback(lambda task: _release(task, previews))  # the previews come after the start
        interrupts = sum(1 for e in log.events if e.get("type") == "user.interrupt")
        try:
            async with self.ctx.turns:
                call = asyncio.ensure_future(model.request(self._native(record, start_id), body, previews))
                try:
                    interrupted = await self._watch(call, interrupts, beside=started)
                finally:
                    if not call.done():
                        call.cancel()
                        await asyncio.gather(call, return_exceptions=True)
            await started
        finally:
            if not started.done():
                started.cancel()
                await asyncio.gather(started, return_exceptions=True)
        if interrupted:
            await self.append(record, [failed_end(start_id)])
            return False
        try:
            result = call.result()
        except model.ModelFailure as failure:
            return await self._failed(record, start_id, failure, attempt)
        served = self.ctx.server_tools.handles
        done = assemble(result, previews.ids, offered, start_id, cloud=cloud, served=lambda n: served(n, cloud=cloud))
        more: Callable[[AsyncConnection], Awaitable[list[dict[str, Any]]]] | None = None
        if done.waiting and not done.cloud_blocked and not done.server_calls:
            # calls wait for a client: the idle that says so is stored with them, so no client can answer a call
            # before the session shows it waiting (a fast worker would otherwise post its result first)
            done.events.append(transcript.idle("requires_action", event_ids=done.waiting))
        elif (
            not done.waiting
            and not done.server_calls
            and not done.cloud_blocked
            and not any(e["type"] == "agent.tool_result" for e in done.events)
        ):
            # the turn ends here unless a user event arrived meanwhile: store its idle with the step (one write less)
            idle = transcript.idle("refusal" if result.stop_reason == "refusal" else "end_turn")
            if self.thread is None and self._seen is not None:
                more = self._unless_wanted(self._seen, idle)  # decided in the step's own transaction
            elif await self._quiet(record, log):
                done.events.append(idle)
        stored = await self.append(record, done.events, usage=result.usage, more=more)
        if done.client_calls and not cloud:
            await self.ctx.need_worker(self.workspace, record)
        return bool(done.events and done.events[-1]["type"] == "session.status_idle") or len(stored) > len(done.events)

    def _unless_wanted(
        self, seen: int, idle: dict[str, Any]
    ) -> Callable[[AsyncConnection], Awaitable[list[dict[str, Any]]]]:
        """A step of the step's transaction: ``[idle]`` when no client event arrived since the log was read (every
        request that stores client events bumps the session's ``wanted`` count in its transaction, so an unchanged
        count says so in one scalar read), else nothing."""

        async def ending(conn: AsyncConnection) -> list[dict[str, Any]]:
            return [idle] if await session_runs.wanted_within(conn, self.session_id) == seen else []

        return ending

    async def _offer_mcp(
        self,
        record: Record,
        log: transcript.Log,
        environment: Record | None,
        body: dict[str, Any],
        offered: dict[str, tools.Offered],
    ) -> list[dict[str, Any]]:
        """Add the agent's MCP tools to the request; returns the ``session.error`` events of servers that failed."""
        agent = self.thread.agent if self.thread is not None else record.doc.get("agent") or {}
        if self.ctx.mcp is None or not agent.get("mcp_servers"):
            return []
        failed = reported(log.events, log.last_idle)  # not listed again in this turn
        offer = await self.ctx.mcp.offer(self.workspace, record, agent, environment, list(offered), skip=failed)
        offered.update(offer.tools)
        if offer.tools:
            body["tools"] = [*body.get("tools", []), *(t.definition for t in offer.tools.values())]
        return offer.errors

    async def _quiet(self, record: Record, log: transcript.Log) -> bool:
        """No client event arrived since ``log`` was read (a child thread, whose events are not counted apart, or a
        run that read no ``wanted`` count: compares the triggers in its log). A primary run's step reads the count
        in its own transaction instead (:meth:`step`): every request that stores client events bumps it."""
        kinds = (*transcript.TRIGGERS, "user.interrupt")
        newer = await self.log.docs(self.session_id, types=list(kinds), thread_id=self.thread_id(record))
        return len(newer) == sum(1 for e in log.events if e.get("type") in kinds)

    def _native(self, record: Record, start_id: str) -> model.Native:
        """The native service, metered against the session's key when it has one (gateway.runtime.metered)."""
        return metered.for_session(self.ctx.keys, self.ctx.native, record.doc, f"{self.session_id}/{start_id}")

    async def _watch(
        self, call: asyncio.Future[Any], interrupts: int, beside: asyncio.Future[Any] | None = None
    ) -> bool:
        """Wait for a model request or a server tool; True if an interrupt arrived first (this process's or
        another's). A child thread's run does not watch: the primary's run watches the call that runs it.
        ``beside``: a store that runs beside the call (the request's start); its failure is raised at once (the
        caller then cancels the call)."""
        while not call.done():
            if beside is not None and beside.done():
                beside.result()  # raises the store's failure
                beside = None
                continue
            watched: set[asyncio.Future[Any]] = {call} if beside is None else {call, beside}
            if self.thread is not None:
                await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
                continue
            waiter: asyncio.Future[Any] = asyncio.ensure_future(self.ctx.signal.wait())
            try:
                done, _ = await asyncio.wait(
                    {*watched, waiter}, timeout=INTERRUPT_POLL, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                waiter.cancel()
            if call.done() or (beside in done and waiter not in done):
                continue
            self.ctx.signal.clear()
            stored = await self.log.docs(self.session_id, types=["user.interrupt"])
            if len(stored) > interrupts:
                return True
        return False

    async def _failed(self, record: Record, start_id: str, failure: model.ModelFailure, attempt: int) -> bool:
        """Store a failed request's end and what follows; True when that ends the turn (no retry left)."""
        logger.warning("session %s: model request failed: %s %s", self.session_id, failure.status, failure.error_type)
        extra = {"_retry_after": failure.retry_after} if failure.retry_after is not None else {}
        end = failed_end(start_id, **extra)
        if failure.retryable and attempt < self.ctx.config.max_model_retries:
            await self.append(record, [end, _error(failure, "retrying"), {"type": "session.status_rescheduled"}])
            return False
        idle = transcript.idle("retries_exhausted")
        await self.append(record, [end, _error(failure, "exhausted" if failure.retryable else "terminal"), idle])
        return True
