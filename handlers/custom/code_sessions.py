"""Handlers for `custom.code_sessions.*` operations (see spec/openapi.yaml); semantics: gateway.storage.code_sessions
(a second wire format over the SDK sessions)."""

from __future__ import annotations

from typing import Any

from connexion import request
from starlette.responses import StreamingResponse

from gateway.keys.service import identity_of
from gateway.runtime.service import runtime
from gateway.storage import code_events, code_sessions, code_stream, code_workers, sessions
from gateway.storage.requests import code_event_stream
from gateway.storage.service import store, workspace
from gateway.storage.session_events import EventLog


async def _view(session_id: str) -> dict[str, Any]:
    record = await code_sessions.get(store(), workspace(), session_id)
    worker = await code_workers.state(store(), workspace(), record.id)
    return {"session": code_sessions.response(record, worker)}


async def list(**_: Any) -> dict[str, Any]:
    """GET /v1/code/sessions"""
    data = [
        code_sessions.response(r, await code_workers.state(store(), workspace(), r.id))
        for r in await code_sessions.list_all(store(), workspace())
    ]
    first, last = (data[0]["id"], data[-1]["id"]) if data else (None, None)
    return {"data": data, "has_more": False, "first_id": first, "last_id": last}


async def create(body: dict[str, Any], **_: Any) -> dict[str, Any]:
    """POST /v1/code/sessions"""
    record = await code_sessions.create(store(), workspace(), body, identity=identity_of())
    await runtime().created(workspace(), sessions.response(record), initial_events=False)
    return {"session": code_sessions.response(record)}


async def get(session_id: str, **_: Any) -> dict[str, Any]:
    """GET /v1/code/sessions/{session_id}"""
    return await _view(session_id)


async def rename(session_id: str, body: dict[str, Any], **_: Any) -> dict[str, Any]:
    """PUT /v1/code/sessions/{session_id}"""
    await code_sessions.rename(store(), workspace(), session_id, str(body.get("title", "")))
    return await _view(session_id)


async def archive(session_id: str, **_: Any) -> dict[str, Any]:
    """POST /v1/code/sessions/{session_id}/archive (409 when already archived)"""
    record = await code_sessions.archive(store(), workspace(), session_id)
    await runtime().closed(workspace(), record, deleted=False)
    return await _view(session_id)


async def list_events(
    session_id: str, sort_order: str | None = None, cursor: str | None = None, **_: Any
) -> dict[str, Any]:
    """GET /v1/code/sessions/{session_id}/events"""
    record = await code_sessions.get(store(), workspace(), session_id)
    code_id = code_sessions.code_id_of(record.id)
    return await code_stream.page(store(), workspace(), record, code_id, cursor=cursor, descending=sort_order == "desc")


async def send_events(session_id: str, body: dict[str, Any], **_: Any) -> dict[str, Any]:
    """POST /v1/code/sessions/{session_id}/events"""
    record = await code_sessions.get(store(), workspace(), session_id)
    code_sessions.live(record, session_id)
    docs = [code_events.from_client(e.get("payload") or {}) for e in body.get("events") or []]
    stored = await runtime().send_code(workspace(), record, docs)
    log = EventLog(store(), workspace())
    return {"results": [{"sequence_num": await log.seq_of(record.id, str(d["id"]))} for d in stored]}


async def stream_events(session_id: str, from_sequence_num: int | None = None, **_: Any) -> StreamingResponse:
    """GET /v1/code/sessions/{session_id}/events/stream"""
    return await code_event_stream(session_id, from_sequence_num, only_client=False)


async def bridge(session_id: str, **_: Any) -> dict[str, Any]:
    """POST /v1/code/sessions/{session_id}/bridge: a new worker epoch and a short-lived worker token for it"""
    record = await code_sessions.get(store(), workspace(), session_id)
    code_sessions.live(record, session_id)
    epoch = await code_workers.register(store(), workspace(), record.id)
    environment_id = str(record.doc.get("environment_id", ""))
    token = await code_workers.issue_token(store(), workspace(), record.id, environment_id, epoch)
    return {
        "worker_jwt": token,
        "api_base_url": str(request.base_url).rstrip("/"),
        "expires_in": code_workers.WORKER_TOKEN_TTL,
        "worker_epoch": epoch,
    }


async def presence(session_id: str, body: dict[str, Any], **_: Any) -> dict[str, Any]:
    """POST /v1/code/sessions/{session_id}/client/presence"""
    client_id, clear = str(body.get("client_id", "")), bool(body.get("clear"))
    return {
        "refresh_after_seconds": await code_sessions.presence(store(), workspace(), session_id, client_id, clear=clear)
    }


async def mark_read(session_id: str, body: dict[str, Any] | None = None, **_: Any) -> dict[str, Any]:
    """POST /v1/code/sessions/{session_id}/mark_read"""
    event_id = (body or {}).get("event_id")
    await code_sessions.mark_read(store(), workspace(), session_id, str(event_id) if event_id else None)
    return await _view(session_id)
