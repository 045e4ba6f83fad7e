"""Handlers for `custom.code_session_worker.*` operations (see spec/openapi.yaml): the CCR v2 worker protocol;
semantics: gateway.storage.code_workers (epochs, checked in the database) and gateway.storage.code_sessions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.responses import StreamingResponse

from gateway.storage import code_events, code_sessions, code_stream, code_workers
from gateway.storage.requests import code_event_stream
from gateway.storage.service import store, workspace

ACK: dict[str, Any] = {}
#: delivery statuses kept per session (the newest)
DELIVERIES_KEPT = 1000


async def _session_id(session_id: str) -> str:
    return (await code_sessions.get(store(), workspace(), session_id)).id


async def register(session_id: str, **_: Any) -> dict[str, Any]:
    """POST /v1/code/sessions/{session_id}/worker/register"""
    record = await code_sessions.get(store(), workspace(), session_id)
    code_sessions.live(record, session_id)
    return {"worker_epoch": await code_workers.register(store(), workspace(), record.id)}


async def get(session_id: str, **_: Any) -> dict[str, Any]:
    """GET /v1/code/sessions/{session_id}/worker"""
    return code_workers.worker_response(await code_workers.state(store(), workspace(), await _session_id(session_id)))


def _merged(current: Any, given: Any) -> dict[str, Any]:
    out = dict(current) if isinstance(current, Mapping) else {}
    if isinstance(given, Mapping):
        out.update(given)
    return out


async def update(session_id: str, body: dict[str, Any], **_: Any) -> dict[str, Any]:
    """PUT /v1/code/sessions/{session_id}/worker"""

    status = body.get("worker_status")
    record = await code_sessions.get(store(), workspace(), session_id)

    def change(doc: dict[str, Any]) -> None:
        if isinstance(status, str):
            doc["worker_status"] = status
        for key in ("external_metadata", "internal_metadata"):
            if key in body:
                doc[key] = _merged(doc.get(key), body[key])

    # a worker that starts a turn makes the session running for the SDK too (its `result` makes it idle)
    starts = status == "running" and record.doc.get("status") != "running"
    docs = [{"type": "session.status_running", "_source": "worker"}] if starts else []
    await code_sessions.worker_append(store(), workspace(), session_id, body.get("worker_epoch"), docs, change)
    return ACK


async def heartbeat(session_id: str, body: dict[str, Any], **_: Any) -> dict[str, Any]:
    """POST /v1/code/sessions/{session_id}/worker/heartbeat"""
    await code_workers.write(store(), workspace(), await _session_id(session_id), body.get("worker_epoch"))
    return ACK


async def send_events(session_id: str, body: dict[str, Any], **_: Any) -> dict[str, Any]:
    """POST /v1/code/sessions/{session_id}/worker/events (ephemeral events are not stored)"""
    events = [e for e in body.get("events") or [] if not e.get("ephemeral")]
    docs = [code_events.from_worker(e.get("payload") or {}) for e in events]
    await code_sessions.worker_append(store(), workspace(), session_id, body.get("worker_epoch"), docs)
    return ACK


async def send_internal_events(session_id: str, body: dict[str, Any], **_: Any) -> dict[str, Any]:
    """POST /v1/code/sessions/{session_id}/worker/internal-events"""
    docs = [code_events.internal(e) for e in body.get("events") or []]
    await code_sessions.worker_append(store(), workspace(), session_id, body.get("worker_epoch"), docs)
    return ACK


async def list_internal_events(session_id: str, subagents: bool = False, **_: Any) -> dict[str, Any]:
    """GET /v1/code/sessions/{session_id}/worker/internal-events"""
    record = await code_sessions.get(store(), workspace(), session_id)
    return await code_stream.internal_events(store(), workspace(), record, subagents=bool(subagents))


async def report_delivery(session_id: str, body: dict[str, Any], **_: Any) -> dict[str, Any]:
    """POST /v1/code/sessions/{session_id}/worker/events/delivery"""

    def change(doc: dict[str, Any]) -> None:
        deliveries = dict(doc.get("deliveries") or {})
        for update in body.get("updates") or []:
            if isinstance(update, Mapping) and update.get("event_id"):
                deliveries.pop(str(update["event_id"]), None)
                deliveries[str(update["event_id"])] = str(update.get("status", ""))
        doc["deliveries"] = dict(list(deliveries.items())[-DELIVERIES_KEPT:])

    await code_workers.write(store(), workspace(), await _session_id(session_id), body.get("worker_epoch"), change)
    return ACK


async def stream_events(session_id: str, from_sequence_num: int | None = None, **_: Any) -> StreamingResponse:
    """GET /v1/code/sessions/{session_id}/worker/events/stream (clients' events only)"""
    return await code_event_stream(session_id, from_sequence_num, only_client=True)
