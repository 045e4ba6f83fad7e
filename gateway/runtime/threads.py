"""Child threads: the ``spawn_agent`` server tool of a multiagent session's primary thread.

The primary thread's model calls ``spawn_agent {agent, task}`` (offered when the session's agent has a roster, see
:func:`gateway.runtime.tools.roster`). Running that call:

1. records a child thread (``sthr_…``, the roster agent's definition, ``parent_thread_id`` = the primary thread; one
   per call, so a process that takes the session over finds the same thread) and emits, on the primary thread,
   ``session.thread_created`` and ``agent.thread_message_sent`` (the task), and on the child
   ``agent.thread_message_received``;
2. runs the child's own agent loop (:class:`gateway.runtime.driver.SessionRun` with the thread): its events are
   stored with ``session_thread_id``, its statuses are ``session.thread_status_*``, and its status changes, tool
   calls and their answers are cross-posted to the session's stream
   (:data:`gateway.storage.session_events.CROSS_POSTED`), so a self-hosted worker or a tool runner watching the
   session answers them like the primary's. While the child waits for such an answer, the session stays
   ``running`` and this call keeps waiting (woken by the session's client events, or every
   :data:`WAIT_POLL` seconds for answers stored by another process);
3. when the child ends its turn, emits its final message as ``agent.thread_message_sent`` (to the primary thread)
   and ``session.thread_status_terminated`` on the child, and returns that message as the spawn call's
   ``agent.tool_result``. A child that exhausts its model retries returns an error result instead.

Calls of one step run one after another. An interrupt of the session's turn cancels the child, which then ends as
``session.thread_status_terminated``. Child threads do not spawn threads of their own."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from typing import Any

from gateway.runtime import tools, transcript
from gateway.runtime.driver import Context, SessionRun, Thread, failed_end
from gateway.runtime.server_tools import Outcome, ServerCall
from gateway.storage import sessions
from gateway.storage.store import Record, new_id

logger = logging.getLogger("gateway.runtime")
#: how often a child waiting for a client looks for an answer stored by another process
WAIT_POLL = 0.5


def _text(content: Any) -> list[dict[str, Any]]:
    return [dict(b) for b in content or [] if isinstance(b, Mapping) and b.get("type") == "text"]


def final_message(log: transcript.Log) -> list[dict[str, Any]]:
    """The text of the child's last turn: its ``agent.message`` events after the last message it received."""
    out: list[dict[str, Any]] = []
    for event in log.events[log.last_trigger + 1 :]:
        if event.get("type") == "agent.message":
            out.extend(_text(event.get("content")))
    return out


class Spawner:
    """The ``spawn_agent`` server tool; ``context(session_id)`` gives the runtime context of a running session."""

    def __init__(self, context: Callable[[str], Context]) -> None:
        self.context = context

    async def __call__(self, call: ServerCall) -> Outcome:
        session = call.session
        agents = tools.roster(session.doc.get("agent") or {})
        name, task = call.input.get("agent"), call.input.get("task")
        if not isinstance(name, str) or name not in agents:
            return Outcome.text(f"unknown agent {name!r}; the agents are: {', '.join(agents)}", is_error=True)
        if not isinstance(task, str) or not task.strip():
            return Outcome.text("task: a non-empty string is required", is_error=True)
        ctx = self.context(session.id)
        primary = SessionRun(ctx, call.workspace, session.id)
        child = await sessions.add_thread(
            ctx.store,
            call.workspace,
            session.id,
            {
                "id": new_id(sessions.THREAD_PREFIX),
                "agent": agents[name],
                "parent_thread_id": primary.thread_id(session),
                "_call": str(call.event.get("id")),
            },
        )
        thread = Thread(str(child["id"]), name, agents[name])
        run = SessionRun(ctx, call.workspace, session.id, thread)
        try:
            await self._start(primary, run, session, task)
            return await self._until_done(run, session)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await self._end(run, session)
            raise

    async def _start(self, primary: SessionRun, run: SessionRun, session: Record, task: str) -> None:
        """Announce the thread and give it its task (the parts a process that died half-way did not store)."""
        assert run.thread is not None
        content = [{"type": "text", "text": task}]
        announced = await primary.log.docs(session.id, types=["session.thread_created"])
        if not any(e.get("session_thread_id") == run.thread.id for e in announced):
            created = {
                "type": "session.thread_created",
                "session_thread_id": run.thread.id,
                "agent_name": run.thread.name,
            }
            sent = {
                "type": "agent.thread_message_sent",
                "to_session_thread_id": run.thread.id,
                "to_agent_name": run.thread.name,
                "content": content,
            }
            await primary.append(session, [created, sent])
        if not (await run.read(session)).events:
            received = {
                "type": "agent.thread_message_received",
                "from_session_thread_id": primary.thread_id(session),
                "from_agent_name": str((session.doc.get("agent") or {}).get("name") or ""),
                "content": content,
            }
            await run.append(session, [received])

    async def _until_done(self, run: SessionRun, session: Record) -> Outcome:
        while True:
            while await run.advance():
                pass
            log = await run.read(session)
            reason = str(((log.last_status or {}).get("stop_reason") or {}).get("type"))
            if log.status == "terminated":  # ended by an earlier owner of the session that died before the result
                sent = [e for e in log.events if e.get("type") == "agent.thread_message_sent"]
                if sent:
                    return Outcome(_text(sent[-1].get("content")) or [{"type": "text", "text": "(no answer)"}])
                return Outcome.text("the agent's thread ended before it answered", is_error=True)
            if log.status == "idle" and reason != "requires_action":
                if reason == "retries_exhausted":
                    await self._end(run, session)
                    return Outcome.text("the agent's model requests failed; it could not answer", is_error=True)
                answer = final_message(log) or [{"type": "text", "text": "(no answer)"}]
                await self._end(run, session, answer)
                return Outcome(answer)
            with contextlib.suppress(TimeoutError):  # an answer for the child: from this process, or polled
                await asyncio.wait_for(run.ctx.signal.wait(), timeout=WAIT_POLL)

    async def _end(self, run: SessionRun, session: Record, answer: list[dict[str, Any]] | None = None) -> None:
        """The child's last events: its answer to the primary thread (if any) and its termination."""
        assert run.thread is not None
        log = await run.read(session)
        if log.status == "terminated":
            return
        events: list[dict[str, Any]] = []
        step = log.last_step
        if step is not None and step.end is None:  # cancelled mid-request
            events.append(failed_end(step.start_id))
        if answer is not None:
            parent = str(session.doc["_thread"]["id"])
            events.append({"type": "agent.thread_message_sent", "to_session_thread_id": parent, "content": answer})
        events.append({"type": "session.status_terminated"})
        await run.append(session, events)
