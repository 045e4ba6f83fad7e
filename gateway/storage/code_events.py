"""Translations between code-session payloads (Claude Code's SDK messages) and the SDK session events they are
stored as, and the code-session renderings of sessions and events (see :mod:`gateway.storage.code_sessions`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.storage.store import Record, rfc3339, utcnow

#: the thread of events that have no SDK event type: the code-session view shows them, the SDK view never does
HIDDEN_THREAD = "sthr_ccr_worker_protocol"
HIDDEN_PREFIX = "ccr."
#: the worker's internal events (transcript entries): never shown to viewers, read back by a resuming worker
INTERNAL_THREAD = "sthr_ccr_worker_internal"
CLIENT, WORKER = "client", "worker"
_USER_BLOCKS = ("text", "image", "document")


def _blocks(content: Any, kinds: tuple[str, ...]) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    if not isinstance(content, list):
        return []
    return [dict(b) for b in content if isinstance(b, Mapping) and b.get("type") in kinds]


def _hidden(payload: Mapping[str, Any], source: str) -> dict[str, Any]:
    # the stored type is a label in a text column, where PostgreSQL refuses a NUL (the payload keeps it: the document
    # is stored through gateway.storage.jsoncodec)
    kind = str(payload.get("type") or "unknown")[:40].replace("\x00", "")
    return {
        "type": HIDDEN_PREFIX + kind,
        "session_thread_id": HIDDEN_THREAD,
        "_payload": dict(payload),
        "_source": source,
    }


def from_client(payload: Mapping[str, Any]) -> dict[str, Any]:
    """What a viewer's payload is stored as: ``user`` → ``user.message``, an interrupt → ``user.interrupt``."""
    kind = payload.get("type")
    if kind == "user":
        message = payload.get("message")
        blocks = _blocks(message.get("content") if isinstance(message, Mapping) else None, _USER_BLOCKS)
        if blocks:
            return {"type": "user.message", "content": blocks, "_payload": dict(payload), "_source": CLIENT}
    if kind == "control_request":
        request = payload.get("request")
        if isinstance(request, Mapping) and request.get("subtype") == "interrupt":
            return {"type": "user.interrupt", "_payload": dict(payload), "_source": CLIENT}
    return _hidden(payload, CLIENT)


def from_worker(payload: Mapping[str, Any]) -> dict[str, Any]:
    """What a worker's payload is stored as: assistant text → ``agent.message``, ``result`` → idle."""
    kind = payload.get("type")
    if kind == "assistant":
        message = payload.get("message")
        blocks = _blocks(message.get("content") if isinstance(message, Mapping) else None, ("text",))
        if blocks:
            return {"type": "agent.message", "content": blocks, "_payload": dict(payload), "_source": WORKER}
    if kind == "result":
        stop = {"type": "end_turn"}
        return {"type": "session.status_idle", "stop_reason": stop, "_payload": dict(payload), "_source": WORKER}
    return _hidden(payload, WORKER)


def internal(event: Mapping[str, Any]) -> dict[str, Any]:
    """A worker's internal event (``{payload, event_type?, is_compaction?, agent_id?, event_metadata?}``) as stored."""
    agent, extra = event.get("agent_id"), event.get("event_metadata")
    meta = {
        "event_type": str(event.get("event_type") or "transcript"),
        "is_compaction": bool(event.get("is_compaction")),
        "agent_id": str(agent) if agent else None,
        "event_metadata": dict(extra) if isinstance(extra, Mapping) else None,
    }
    payload = event.get("payload")
    return {
        "type": HIDDEN_PREFIX + "internal",
        "session_thread_id": INTERNAL_THREAD,
        "_payload": dict(payload) if isinstance(payload, Mapping) else {},
        "_internal": meta,
        "_source": WORKER,
    }


def source_of(doc: Mapping[str, Any]) -> str:
    """Who wrote an event: a viewer / SDK client (``client``) or whoever runs the turn (``worker``)."""
    given = doc.get("_source")
    if isinstance(given, str):
        return given
    return CLIENT if str(doc.get("type", "")).startswith("user.") else WORKER


def payload_of(doc: Mapping[str, Any], code_id: str) -> dict[str, Any] | None:
    """The SDK message an event is on the code-session surface (None: the event has no such rendering)."""
    if doc.get("_internal") is not None:
        return None
    if isinstance(doc.get("_payload"), Mapping):
        return dict(doc["_payload"])
    kind, ident = doc.get("type"), str(doc.get("id", ""))
    common = {"uuid": ident, "session_id": code_id, "parent_tool_use_id": None}
    if kind == "user.message":
        return {**common, "type": "user", "message": {"role": "user", "content": doc.get("content") or []}}
    if kind == "agent.message":
        message = {"type": "message", "role": "assistant", "content": doc.get("content") or []}
        return {**common, "type": "assistant", "message": message}
    if kind == "session.status_idle":
        return {"type": "result", "subtype": "success", "is_error": False, "uuid": ident, "session_id": code_id}
    if kind == "user.interrupt":
        return {"type": "control_request", "request_id": ident, "request": {"subtype": "interrupt"}}
    return None


def render_event(seq: int, doc: Mapping[str, Any], code_id: str) -> dict[str, Any] | None:
    """One event as ``ClaudeAiCodeSessionStreamClientEvent`` (also the list's entry)."""
    payload = payload_of(doc, code_id)
    if payload is None:
        return None
    return {
        "event_id": str(doc.get("id", "")),
        "sequence_num": seq,
        "event_type": str(payload.get("type", "")),
        "source": source_of(doc),
        "payload": payload,
        "created_at": doc.get("processed_at"),
    }


def worker_status(record: Record, worker: Mapping[str, Any] | None) -> str:
    if record.archived_at is not None:
        return "archived"
    reported = (worker or {}).get("worker_status")
    if isinstance(reported, str) and reported in ("idle", "running", "requires_action"):
        return reported
    status = record.doc.get("status")
    return "running" if status in ("running", "rescheduling") else "idle"


def render_session(record: Record, code_id: str, worker: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A session as ``ClaudeAiCodeSession``."""
    found = record.doc.get("_code")
    code: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    updated = rfc3339(record.updated_at)
    now = rfc3339(utcnow()) or ""
    out: dict[str, Any] = {
        "id": code_id,
        "title": record.doc.get("title"),
        "status": "archived" if record.archived_at is not None else "active",
        "worker_status": worker_status(record, worker),
        "environment_id": str(record.doc.get("environment_id", "")),
        "created_at": rfc3339(record.created_at),
        "updated_at": updated,
        "last_event_at": updated,
        "tags": list(code.get("tags") or []),
        "config": dict(code.get("config") or {}),
        "viewers": sum(1 for until in dict(code.get("presence") or {}).values() if str(until) > now),
        "last_read_event_id": code.get("last_read_event_id"),
    }
    model = (record.doc.get("agent") or {}).get("model")
    if isinstance(model, Mapping) and "model" not in out["config"]:
        out["config"]["model"] = model.get("id")
    return out
