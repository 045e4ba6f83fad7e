"""Reading a session's event log: where the turn stands, what the model is sent next, and what to do now.

Everything here is a pure function of the stored events (in log order, private ``_`` annotations included), so a
process that takes over a session after a crash reaches the same decision as the one that died. The runtime's own
events carry these annotations (never shown to clients, see :func:`gateway.storage.session_events.public`):

* ``span.model_request_end``: ``_content`` (the assistant content blocks exactly as the model produced them,
  thinking signatures included) and ``_stop_reason``;
* ``agent.tool_use`` / ``agent.custom_tool_use``: ``_toolu`` (the model's ``toolu_…`` id) and ``_step`` (the id of
  the ``span.model_request_start`` of the request that produced the call); ``_server`` on calls the gateway answers
  itself (:mod:`gateway.runtime.server_tools`).

Messages are rebuilt as the reference §5 describes: ``user.message`` → user content; a completed model request →
one assistant message placed where the request *started* (events that arrived while it ran come after it), followed
by one user message with a ``tool_result`` for each of its calls in call order (the result event's content and
``is_error``; a denied call → an error result with the deny message; a call nobody answered before the turn was
interrupted or ended → an error result saying so)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

#: events that start a turn: a user's message, a system message, a message from another thread of the session
TRIGGERS = frozenset({"user.message", "system.message", "agent.thread_message_received"})
RESULT_TYPES = {
    "user.tool_result": "tool_use_id",
    "user.custom_tool_result": "custom_tool_use_id",
    "agent.tool_result": "tool_use_id",
    "agent.mcp_tool_result": "mcp_tool_use_id",
}
CALL_TYPES = frozenset({"agent.tool_use", "agent.custom_tool_use", "agent.mcp_tool_use"})
STATUS_OF = {
    "session.status_running": "running",
    "session.status_idle": "idle",
    "session.status_rescheduled": "rescheduling",
    "session.status_terminated": "terminated",
    # a child thread's log has these instead (gateway.runtime.threads)
    "session.thread_status_running": "running",
    "session.thread_status_idle": "idle",
    "session.thread_status_rescheduled": "rescheduling",
    "session.thread_status_terminated": "terminated",
}
IDLE_TYPES = frozenset({"session.status_idle", "session.thread_status_idle"})
ABANDONED = "This tool call was not answered before the turn ended."
DENIED = "The user denied this tool call."


@dataclass
class Call:
    event_id: str
    toolu: str
    name: str
    type: str  # agent.tool_use | agent.custom_tool_use | agent.mcp_tool_use
    permission: str | None
    index: int
    server: bool = False


@dataclass
class Step:
    start_id: str
    start_index: int
    end_index: int | None = None
    end: Mapping[str, Any] | None = None
    calls: list[Call] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.end is not None and not self.end.get("is_error")


@dataclass
class Log:
    """What the event log says, read in one pass."""

    events: Sequence[Mapping[str, Any]]
    steps: list[Step] = field(default_factory=list)
    results: dict[str, Mapping[str, Any]] = field(default_factory=dict)  # call event id -> result event
    confirmations: dict[str, Mapping[str, Any]] = field(default_factory=dict)  # call event id -> confirmation
    calls: dict[str, Call] = field(default_factory=dict)
    last_status: Mapping[str, Any] | None = None
    last_idle: int = -1
    last_interrupt: int = -1
    last_trigger: int = -1

    @property
    def status(self) -> str:
        return STATUS_OF.get(str((self.last_status or {}).get("type")), "idle")

    @property
    def last_step(self) -> Step | None:
        return self.steps[-1] if self.steps else None

    def resolved(self, call: Call) -> bool:
        if call.event_id in self.results:
            return True
        confirmation = self.confirmations.get(call.event_id)
        return confirmation is not None and confirmation.get("result") == "deny"

    def abandoned(self, step: Step) -> bool:
        """The turn moved on without the step's calls: an interrupt, or an idle that does not wait for them."""
        end = step.end_index if step.end_index is not None else step.start_index
        if self.last_interrupt > end:
            return True
        for event in self.events[end + 1 :]:
            if event.get("type") in IDLE_TYPES:
                reason = event.get("stop_reason") or {}
                if reason.get("type") != "requires_action":
                    return True
        return False

    def _open_calls(self) -> list[Call]:
        step = self.last_step
        if step is None or not step.ok or self.abandoned(step):
            return []
        return [c for c in step.calls if not self.resolved(c)]

    def _confirmed(self, call: Call) -> bool:
        return call.permission != "ask" or (self.confirmations.get(call.event_id) or {}).get("result") == "allow"

    def blocking(self) -> list[Call]:
        """The calls of the last completed request that still wait for a client (in call order): a client's tool
        call without its result, or a server call still waiting for its confirmation."""
        return [c for c in self._open_calls() if not c.server or not self._confirmed(c)]

    def runnable(self) -> list[Call]:
        """The server calls of the last completed request that may run now (allowed, no result yet)."""
        return [c for c in self._open_calls() if c.server and self._confirmed(c)]

    def failures(self) -> int:
        """Consecutive failed model requests at the end of the log, since the last idle."""
        count = 0
        for step in reversed(self.steps):
            if step.start_index < self.last_idle or step.ok:
                break
            count += 1
        return count


def read(events: Sequence[Mapping[str, Any]]) -> Log:
    log = Log(events)
    by_start: dict[str, Step] = {}
    for index, event in enumerate(events):
        kind = event.get("type")
        if kind == "span.model_request_start":
            step = Step(str(event.get("id")), index)
            log.steps.append(step)
            by_start[step.start_id] = step
        elif kind == "span.model_request_end":
            started = by_start.get(str(event.get("model_request_start_id")))
            if started is not None:
                started.end, started.end_index = event, index
        elif kind in CALL_TYPES:
            call = Call(
                str(event.get("id")),
                str(event.get("_toolu") or event.get("id")),
                str(event.get("name")),
                str(kind),
                event.get("evaluated_permission"),
                index,
                bool(event.get("_server")),
            )
            log.calls[call.event_id] = call
            owner = by_start.get(str(event.get("_step")))
            if owner is not None:
                owner.calls.append(call)
        elif kind in RESULT_TYPES:
            log.results.setdefault(str(event.get(RESULT_TYPES[kind])), event)
        elif kind == "user.tool_confirmation":
            log.confirmations.setdefault(str(event.get("tool_use_id")), event)
        elif kind == "user.interrupt":
            log.last_interrupt = index
        elif kind in TRIGGERS:
            log.last_trigger = index
        elif kind in STATUS_OF:
            log.last_status = event
            if kind in IDLE_TYPES:
                log.last_idle = index
    return log


def by_thread(events: Sequence[Mapping[str, Any]]) -> dict[str | None, Log]:
    """A whole session's events read per thread (None: the primary thread, whose events carry no
    ``session_thread_id``)."""
    grouped: dict[str | None, list[Mapping[str, Any]]] = {}
    for event in events:
        thread = event.get("session_thread_id")
        grouped.setdefault(thread if isinstance(thread, str) else None, []).append(event)
    return {thread: read(group) for thread, group in grouped.items()}


# --- messages ---------------------------------------------------------------------------------------------------------
def _blocks(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [dict(b) for b in content or [] if isinstance(b, Mapping)]


def _result_block(log: Log, call: Call) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": call.toolu}
    result = log.results.get(call.event_id)
    if result is not None:
        content = _blocks(result.get("content"))
        if content:
            block["content"] = content
        if result.get("is_error"):
            block["is_error"] = True
        return block
    confirmation = log.confirmations.get(call.event_id)
    if confirmation is not None and confirmation.get("result") == "deny":
        return {**block, "is_error": True, "content": str(confirmation.get("deny_message") or DENIED)}
    return {**block, "is_error": True, "content": ABANDONED}


def messages(log: Log) -> list[dict[str, Any]]:
    """The Messages API ``messages`` for the next model request."""
    out: list[dict[str, Any]] = []

    def push(role: str, blocks: list[dict[str, Any]]) -> None:
        if not blocks:
            return
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})

    steps = {s.start_index: s for s in log.steps}
    for index, event in enumerate(log.events):
        kind = event.get("type")
        if kind in ("user.message", "agent.thread_message_received"):
            push("user", _blocks(event.get("content")))
        elif kind == "system.message":
            text = " ".join(str(b.get("text", "")) for b in _blocks(event.get("content")))
            push("user", [{"type": "text", "text": f"<system-message>{text}</system-message>"}])
        elif index in steps:
            step = steps[index]
            if step.ok and step.end is not None:
                push("assistant", _blocks(step.end.get("_content")))
                push("user", [_result_block(log, c) for c in step.calls])
    return out


# --- what to do now ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Emit:
    """Append these events (a status event among them moves the session's status)."""

    events: list[dict[str, Any]]


@dataclass(frozen=True)
class CallModel:
    """Start a model request: ``running`` says whether ``session.status_running`` must be emitted first;
    ``attempt`` counts the failed requests before this one (for the retry back-off)."""

    running: bool
    attempt: int


@dataclass(frozen=True)
class RunTools:
    """Run these server calls and store their results (``running``: emit ``session.status_running`` first)."""

    calls: list[Call]
    running: bool


@dataclass(frozen=True)
class Done:
    """Nothing to do until the next user event."""


Plan = Emit | CallModel | RunTools | Done


def _zero_usage() -> dict[str, int]:
    return {"input_tokens": 0, "output_tokens": 0, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}


def idle(reason: str, **extra: Any) -> dict[str, Any]:
    return {"type": "session.status_idle", "stop_reason": {"type": reason, **extra}}


def plan(log: Log) -> Plan:
    """The next action for a session whose log is ``log``; no model request of this process is in flight."""
    if log.status == "terminated":
        return Done()
    step = log.last_step
    if step is not None and step.end is None:  # its process died mid-request: close it and retry
        end = {
            "type": "span.model_request_end",
            "model_request_start_id": step.start_id,
            "is_error": True,
            "model_usage": _zero_usage(),
        }
        return Emit([end, {"type": "session.status_rescheduled"}])
    turn_open = log.status in ("running", "rescheduling")
    waiting = (
        log.status == "idle" and ((log.last_status or {}).get("stop_reason") or {}).get("type") == "requires_action"
    )
    if log.last_interrupt > log.last_idle and (turn_open or waiting):
        return Emit([idle("end_turn")])
    if log.status == "rescheduling":
        return CallModel(running=True, attempt=log.failures())
    runnable = log.runnable()
    if runnable:
        return RunTools(runnable, running=not turn_open)
    blocking = log.blocking()
    if blocking:
        ids = [c.event_id for c in blocking]
        current = (log.last_status or {}).get("stop_reason") or {}
        if log.status == "idle" and current.get("type") == "requires_action" and current.get("event_ids") == ids:
            return Done()
        return Emit([idle("requires_action", event_ids=ids)])
    if step is not None and step.ok and step.calls and not log.abandoned(step):
        return CallModel(running=not turn_open, attempt=0)  # every call answered: the model goes on
    started = step.start_index if step is not None else -1
    if log.last_trigger > max(log.last_idle, log.last_interrupt, started):
        return CallModel(running=not turn_open, attempt=0)
    if turn_open and step is not None and step.ok:
        reason = str((step.end or {}).get("_stop_reason") or "end_turn")
        return Emit([idle("refusal" if reason == "refusal" else "end_turn")])
    return Done()
