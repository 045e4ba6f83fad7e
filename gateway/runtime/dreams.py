"""Dreams on the session runtime: a dream is a session whose agent reads past sessions' transcripts and rewrites the
output memory store through the memory tool (:mod:`gateway.runtime.memory_tool`).

Create checks the inputs (one ``memory_store``, any ``sessions``), picks the output store (``create_new``: a new store
holding a copy of every input memory; ``update_existing``: the input store, 409 while another such dream on it has not
ended), and starts a session with that store attached read-write. The session's agent (``dream agent <dream id>``) and
its cloud environment are ordinary stored resources made for the dream. Its one ``user.message`` carries the
transcripts (user and agent messages of each named session) and the dream's ``instructions``.

Status comes from the session's events: ``running`` once the dream's message is stored, ``completed`` at an
``end_turn`` idle, ``failed`` at a ``session.error``, a terminated session or a refusal, ``canceled`` after
:func:`cancel` (which sends ``user.interrupt``). ``usage`` is the session's usage (its model steps)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gateway.errors import Conflict, InvalidRequest
from gateway.runtime.service import runtime
from gateway.storage import agents, dreams, environments, memory, sessions
from gateway.storage.session_events import EventLog
from gateway.storage.store import Record, Store, rfc3339, utcnow

PROMPT = (
    "You are dreaming: you consolidate what past sessions learned into a memory store. The store is the directory "
    "under /memories. Read it with the memory tool, then read the transcripts in the user's message, and rewrite the "
    "store so it holds what is worth remembering: merge duplicates, fix what is outdated, add what is new, remove "
    "what is wrong. Keep files small and named by topic. Stop when the store is reorganized."
)
MAX_TRANSCRIPT_CHARS = 200_000
_TERMINAL_IDLE = {"end_turn": "completed", "refusal": "failed"}


def _model(value: Any) -> dict[str, Any]:
    if isinstance(value, str) and value:
        return {"id": value}
    if isinstance(value, Mapping) and isinstance(value.get("id"), str) and value["id"]:
        out: dict[str, Any] = {"id": value["id"]}
        if value.get("speed") is not None:
            out["speed"] = value["speed"]
        return out
    raise InvalidRequest("model: a model id or {id, speed} is required")


def _inputs(value: Any) -> tuple[str, list[str], list[dict[str, Any]]]:
    """(input memory store id, session ids, the inputs as stored)."""
    if not isinstance(value, list):
        raise InvalidRequest("inputs: a list is required")
    stores = [i for i in value if isinstance(i, Mapping) and i.get("type") == "memory_store"]
    groups = [i for i in value if isinstance(i, Mapping) and i.get("type") == "sessions"]
    if len(stores) != 1 or len(stores) + len(groups) != len(value):
        raise InvalidRequest("inputs: exactly one memory_store entry and any number of sessions entries are required")
    store_id = stores[0].get("memory_store_id")
    if not isinstance(store_id, str) or not store_id:
        raise InvalidRequest("inputs[].memory_store_id: a memory store id is required")
    session_ids: list[str] = []
    for group in groups:
        ids = group.get("session_ids")
        if not isinstance(ids, list) or not all(isinstance(i, str) and i for i in ids):
            raise InvalidRequest("inputs[].session_ids: a list of session ids is required")
        session_ids.extend(ids)
    stored: list[dict[str, Any]] = [{"type": "memory_store", "memory_store_id": store_id}]
    stored += [{"type": "sessions", "session_ids": list(g["session_ids"])} for g in groups]
    return store_id, session_ids, stored


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(str(b.get("text", "")) for b in content or [] if isinstance(b, Mapping) and b.get("type") == "text")


async def _transcripts(store: Store, workspace: str, session_ids: Sequence[str]) -> str:
    log = EventLog(store, workspace)
    parts: list[str] = []
    for session_id in session_ids:
        await sessions.KIND.get(store, workspace, session_id)
        lines = [f"## Session {session_id}"]
        for event in await log.docs(session_id, types=["user.message", "agent.message"]):
            who = "user" if event["type"] == "user.message" else "agent"
            lines.append(f"{who}: {_text(event.get('content'))}")
        parts.append("\n".join(lines))
    text = "\n\n".join(parts) or "(no sessions were given)"
    return text[-MAX_TRANSCRIPT_CHARS:]


async def _copy(store: Store, workspace: str, source_id: str, target_id: str) -> None:
    cursor: str | None = None
    while True:
        found = await memory.list_memories(
            store, workspace, source_id, path_prefix=None, depth=None, limit=100, page_cursor=cursor, view="full"
        )
        for item in found["data"]:
            if item.get("type") == "memory":
                body = {"path": item["path"], "content": item.get("content") or ""}
                await memory.create_memory(store, workspace, target_id, body, memory.request_actor(), "basic")
        cursor = found.get("next_page")
        if not cursor:
            return


async def _output_store(store: Store, workspace: str, source: Record, behavior: Mapping[str, Any]) -> str:
    if behavior.get("type") == "update_existing":
        if behavior.get("memory_store_id") not in (None, source.id):
            raise InvalidRequest("output_behavior.memory_store_id: must be the input memory store")
        if source.archived_at is not None:
            raise InvalidRequest(f"memory store {source.id!r} is archived and cannot be modified")
        await refresh_all(store, workspace)  # a dream that ended since its last read no longer holds the store
        if await dreams.busy_on(store, workspace, source.id):
            raise Conflict(f"another update_existing dream on memory store {source.id!r} has not stopped")
        return source.id
    # the copy keeps the input's name, so the dream's directory is /memories/<that name> as in the input's sessions
    body = {"name": source.doc.get("name") or source.id, "description": source.doc.get("description") or ""}
    created = await memory.create_store(store, workspace, body)
    await _copy(store, workspace, source.id, created["id"])
    return str(created["id"])


def _behavior(value: Any, store_id: str) -> dict[str, Any]:
    if value is None:
        return {"type": "create_new"}
    if isinstance(value, Mapping) and value.get("type") == "create_new":
        return {"type": "create_new"}
    if isinstance(value, Mapping) and value.get("type") == "update_existing":
        return {"type": "update_existing", "memory_store_id": str(value.get("memory_store_id") or store_id)}
    raise InvalidRequest("output_behavior.type: create_new or update_existing")


async def create(store: Store, workspace: str, body: Mapping[str, Any]) -> dict[str, Any]:
    model = _model(body.get("model"))
    store_id, session_ids, inputs = _inputs(body.get("inputs"))
    behavior = _behavior(body.get("output_behavior"), store_id)
    instructions = body.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        raise InvalidRequest("instructions: a string is required")
    source = await memory.STORE.get(store, workspace, store_id)
    transcript = await _transcripts(store, workspace, session_ids)
    output_id = await _output_store(store, workspace, source, behavior)
    record = await dreams.create(
        store,
        workspace,
        {
            "inputs": inputs,
            "instructions": instructions,
            "model": model,
            "output_behavior": behavior,
            "outputs": [{"type": "memory_store", "memory_store_id": output_id}],
        },
    )
    agent = await agents.create(
        store, workspace, {"name": f"dream agent {record.id}", "model": model, "system": PROMPT, "tools": []}
    )
    environment = await environments.create(
        store, workspace, {"name": f"dream {record.id}", "config": {"type": "cloud", "networking": {"type": "limited"}}}
    )
    session = await sessions.create(
        store,
        workspace,
        {
            "agent": agent["id"],
            "environment_id": environment["id"],
            "title": f"dream {record.id}",
            "resources": [{"type": "memory_store", "memory_store_id": output_id, "access": "read_write"}],
        },
    )
    await runtime().created(workspace, session, initial_events=False)
    task = f"# Transcripts\n{transcript}"
    if instructions:
        task += f"\n\n# Instructions\n{instructions}"
    await dreams.settle(store, workspace, record.id, {"session_id": session["id"], "status": "running"})
    await runtime().send(
        workspace, session["id"], {"events": [{"type": "user.message", "content": [{"type": "text", "text": task}]}]}
    )
    return await refresh(store, workspace, record.id)


async def _derived(store: Store, workspace: str, record: Record) -> dict[str, Any]:
    session_id = record.doc.get("session_id")
    if not session_id:
        return {}
    found = await store.get(workspace, sessions.KIND.type, session_id)
    if found is None:
        return {"status": "failed", "error": {"type": "session_deleted", "message": "the dream's session is gone"}}
    usage = {**dreams.ZERO_USAGE, **{k: v for k, v in (found.doc.get("usage") or {}).items() if k in dreams.ZERO_USAGE}}
    out: dict[str, Any] = {"usage": usage}
    if record.doc.get("status") == "canceled":
        return out
    kinds = ["session.status_idle", "session.status_terminated", "session.error"]
    for event in reversed(await EventLog(store, workspace).docs(session_id, types=kinds)):
        if event["type"] == "session.error":
            message = str((event.get("error") or {}).get("message") or "the dream's session failed")
            return {**out, "status": "failed", "error": {"type": "session_error", "message": message}}
        if event["type"] == "session.status_terminated":
            return {**out, "status": "failed", "error": {"type": "session_terminated", "message": "session ended"}}
        status = _TERMINAL_IDLE.get(str((event.get("stop_reason") or {}).get("type")))
        if status is not None:
            error = {"type": "refusal", "message": "the model refused"} if status == "failed" else None
            return {**out, "status": status, "error": error}
    return out


async def refresh(store: Store, workspace: str, dream_id: str) -> dict[str, Any]:
    """The dream with status and usage read from its session now."""
    record = await dreams.KIND.get(store, workspace, dream_id)
    if record.doc.get("status") in dreams.ENDED and record.doc.get("status") != "canceled":
        return dreams.response(record)
    fields = await _derived(store, workspace, record)
    if fields.get("status") in dreams.ENDED and not record.doc.get("ended_at"):
        fields["ended_at"] = rfc3339(utcnow())
    if any(record.doc.get(k) != v for k, v in fields.items()):  # a poll that changes nothing writes nothing
        record = await dreams.settle(store, workspace, dream_id, fields)
    return dreams.response(record)


async def refresh_all(store: Store, workspace: str) -> None:
    for record in await dreams.unsettled(store, workspace):
        await refresh(store, workspace, record.id)


async def cancel(store: Store, workspace: str, dream_id: str) -> dict[str, Any]:
    """Interrupt the dream's session; a dream that has ended stays as it is."""
    current = await refresh(store, workspace, dream_id)
    if current["status"] in dreams.ENDED:
        return current
    await dreams.settle(store, workspace, dream_id, {"status": "canceled", "ended_at": rfc3339(utcnow())})
    if current.get("session_id"):
        await runtime().send(workspace, current["session_id"], {"events": [{"type": "user.interrupt"}]})
    return await refresh(store, workspace, dream_id)
