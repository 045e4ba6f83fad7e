"""Client events before they are stored: references checked, oversized tool output cut.

* ``user.tool_result`` / ``user.custom_tool_result`` must name an ``agent.tool_use`` / ``agent.custom_tool_use``
  event of the session (by its event id) that has no result yet, and ``user.tool_confirmation`` an ``agent.tool_use``
  or ``agent.mcp_tool_use`` whose ``evaluated_permission`` is ``ask`` and that has no verdict yet; otherwise 400,
  naming the id. A result for a call the turn has moved on from (interrupted) is accepted and stored, and resumes
  nothing. A call the gateway answers itself (:mod:`gateway.runtime.server_tools`, MCP calls) takes no client result
  (400). An answer to a child thread's call is stored in that thread; a terminated thread's calls take no answers
  (400).
* Text in a tool result beyond ``max_tool_result_bytes`` (UTF-8) is cut at that size and ends with a marker saying
  how many bytes were left out; the rest of the result is kept.
* Events to an archived session: 409."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.errors import Conflict, InvalidRequest
from gateway.runtime import transcript
from gateway.storage import sessions
from gateway.storage.session_events import EventLog
from gateway.storage.store import Record, Store

RESULTS = {
    "user.tool_result": ("tool_use_id", "agent.tool_use"),
    "user.custom_tool_result": ("custom_tool_use_id", "agent.custom_tool_use"),
}
#: calls a ``user.tool_confirmation`` may answer (those with an ``evaluated_permission``)
CONFIRMABLE = ("agent.tool_use", "agent.mcp_tool_use")
MARKER = "\n[… output truncated by the gateway: {count} more bytes]"


def _cut(text: str, limit: int) -> str:
    data = text.encode()
    if len(data) <= limit:
        return text
    kept = data[:limit].decode(errors="ignore")
    return kept + MARKER.format(count=len(data) - len(kept.encode()))


def truncate(event: Mapping[str, Any], limit: int) -> dict[str, Any]:
    out = dict(event)
    content = out.get("content")
    if isinstance(content, str):
        out["content"] = [{"type": "text", "text": _cut(content, limit)}]
    elif isinstance(content, list):
        out["content"] = [
            {**b, "text": _cut(b["text"], limit)} if isinstance(b, Mapping) and isinstance(b.get("text"), str) else b
            for b in content
        ]
    return out


def route(docs: Sequence[Mapping[str, Any]], events: list[dict[str, Any]], terminated: set[str]) -> None:
    """Store each answer in the thread of the call it answers (a child thread's call was cross-posted to the
    session's stream, so its answer comes to the session); answers to a terminated thread's calls are refused."""
    thread_of = {str(d.get("id")): d.get("session_thread_id") for d in docs if d.get("type") in transcript.CALL_TYPES}
    for event in events:
        field = RESULTS.get(str(event.get("type")), ("tool_use_id",))[0]
        if event.get("type") not in (*RESULTS, "user.tool_confirmation"):
            continue
        thread = thread_of.get(str(event.get(field)))
        if isinstance(thread, str):
            if thread in terminated:
                raise InvalidRequest(
                    f"{field}: {event.get(field)!r} is a call of session thread {thread!r}, which "
                    "has terminated and accepts no answers"
                )
            event["session_thread_id"] = thread


def check(log: transcript.Log, events: Sequence[Mapping[str, Any]]) -> None:
    answered = set(log.results)
    confirmed = set(log.confirmations)
    for event in events:
        kind = event.get("type")
        if kind in RESULTS:
            field, call_type = RESULTS[str(kind)]
            call_id = str(event.get(field))
            call = log.calls.get(call_id)
            if call is None or call.type != call_type:
                raise InvalidRequest(f"{field}: {call_id!r} is not the id of an {call_type} event of this session")
            if call.server:
                raise InvalidRequest(f"{field}: {call_id!r} is a call the gateway answers itself")
            if call_id in answered:
                raise InvalidRequest(f"{field}: {call_id!r} already has a result")
            answered.add(call_id)
        elif kind == "user.tool_confirmation":
            call_id = str(event.get("tool_use_id"))
            call = log.calls.get(call_id)
            if call is None or call.type not in CONFIRMABLE or call.permission != "ask":
                raise InvalidRequest(
                    f"tool_use_id: {call_id!r} is not a tool call of this session awaiting confirmation"
                )
            if call_id in confirmed:
                raise InvalidRequest(f"tool_use_id: {call_id!r} was already confirmed or denied")
            confirmed.add(call_id)


async def accept(
    store: Store,
    workspace: str,
    session_id: str,
    body: Mapping[str, Any],
    limit: int,
    within: Callable[[AsyncConnection], Awaitable[None]] | None = None,
    current: Record | None = None,
) -> tuple[Record, dict[str, Any]]:
    """Check and store the events of ``POST /v1/sessions/{id}/events`` (``within``: one more step of the transaction
    that stores them; ``current``: the session as the caller just read it); returns the session (as read before the
    events were stored) and the stored page."""
    record = current if current is not None else await sessions.KIND.get(store, workspace, session_id)
    if record.archived_at is not None:
        raise Conflict(f"session {session_id!r} is archived and accepts no events")
    events = [truncate(e, limit) if e.get("type") in RESULTS else dict(e) for e in body.get("events") or []]
    if any(e.get("type") in (*RESULTS, "user.tool_confirmation") for e in events):
        types = [*transcript.CALL_TYPES, *transcript.RESULT_TYPES, "user.tool_confirmation"]
        docs = await EventLog(store, workspace).docs(session_id, types=types)
        check(transcript.read(docs), events)
        terminated = {str(t.get("id")) for t in record.doc.get("_threads") or [] if t.get("status") == "terminated"}
        route(docs, events, terminated)
    page = await sessions.send_events(
        store, workspace, session_id, {**body, "events": events}, current=record, within=within
    )
    return record, page
