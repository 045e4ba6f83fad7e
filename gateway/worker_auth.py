"""What a self-hosted worker's credential may call: the one place that scopes environment keys and sessions tokens.

Default deny: an operation that is not listed for the credential's kind answers 403 ``permission_error``.

* **Environment key**: work poll, stats and list of its environment; ack, heartbeat and stop of that environment's
  items; session retrieve and events list/send/stream of sessions on its environment; skill version retrieve and
  content in its workspace. Never memory.
* **Sessions token** (from a work item's ``secret``): heartbeat and stop of its own work item; retrieve and events
  list/send/stream of its item's session; skill version retrieve and content; memory store retrieve, memories
  list/retrieve and memory versions list/retrieve of the memory stores attached to that session, and memories
  create/update/delete in those attached ``read_write``.

* **Worker token** (``POST /v1/code/sessions/{id}/bridge``, short-lived): the CCR v2 worker calls of its code
  session and that session's retrieve. A sessions token reaches its session's worker calls too (the bridge
  registers with it) and may acknowledge its own work item. Both reach their session's session-ingress calls
  (transcript log read/append, v2 events, teleport transcript): the work secret's ``session_ingress_token``.

Another environment's queue or item, another environment's (or another item's) session and a memory store not
attached to the session answer 404, as if they did not exist. The identity returned to connexion carries the
credential's workspace, so handlers work in it."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Literal

from gateway.errors import NotFound, PermissionDenied
from gateway.storage.code_sessions import session_id_of
from gateway.storage.environment_keys import Credential
from gateway.storage.store import Store

logger = logging.getLogger(__name__)

Scope = Literal["queue", "item", "session", "workspace", "memory_read", "memory_write"]

#: What both credentials may call (the scope check differs: an item's own token reaches only its item and session).
SHARED: Mapping[str, Scope] = {
    "custom.environment_work.heartbeat": "item",
    "custom.environment_work.stop": "item",
    "custom.sessions.retrieve": "session",
    "custom.session_events.list": "session",
    "custom.session_events.send": "session",
    "custom.session_events.stream": "session",
    "custom.skill_versions.retrieve": "workspace",
    "custom.skill_versions.download": "workspace",
}

ENVIRONMENT_KEY: Mapping[str, Scope] = {
    **SHARED,
    "custom.environment_work.poll": "queue",
    "custom.environment_work.stats": "queue",
    "custom.environment_work.list": "queue",
    "custom.environment_work.ack": "item",
}

#: the CCR v2 worker protocol of one code session (``/v1/code/sessions/{id}/worker*``)
CODE_WORKER: Mapping[str, Scope] = {
    f"custom.code_session_worker.{verb}": "session"
    for verb in (
        "register",
        "get",
        "update",
        "heartbeat",
        "send_events",
        "send_internal_events",
        "list_internal_events",
        "report_delivery",
        "stream_events",
    )
}

#: session ingress of one session (the transcript log, v2 events, the teleport transcript)
SESSION_INGRESS: Mapping[str, Scope] = {
    f"custom.session_ingress.{verb}": "session"
    for verb in ("get_log", "append_log", "send_events", "list_teleport_events")
}

#: a worker token from ``POST /v1/code/sessions/{id}/bridge``: its session's worker and ingress calls only
WORKER_TOKEN: Mapping[str, Scope] = {**CODE_WORKER, **SESSION_INGRESS, "custom.sessions.retrieve": "session"}

SESSIONS_TOKEN: Mapping[str, Scope] = {
    **SHARED,
    **CODE_WORKER,
    **SESSION_INGRESS,
    "custom.environment_work.ack": "item",
    "custom.memory_stores.retrieve": "memory_read",
    "custom.memories.list": "memory_read",
    "custom.memories.retrieve": "memory_read",
    "custom.memory_versions.list": "memory_read",
    "custom.memory_versions.retrieve": "memory_read",
    "custom.memories.create": "memory_write",
    "custom.memories.update": "memory_write",
    "custom.memories.delete": "memory_write",
}

SESSION_TYPE = "session"


def identity(credential: Credential) -> dict[str, str]:
    """The ``token_info`` of a worker credential (``sub`` is the credential's id, never the secret)."""
    out = {
        "sub": credential.id,
        "workspace": credential.workspace,
        "credential": credential.kind,
        "environment_id": credential.environment_id,
    }
    if credential.session_id is not None:
        out["session_id"] = credential.session_id
    return out


def _denied(credential: Credential, operation_id: str) -> PermissionDenied:
    what = {"environment_key": "an environment key", "sessions_token": "a sessions token"}.get(
        credential.kind, "a worker token"
    )
    return PermissionDenied(
        f"{operation_id or 'this operation'} is not allowed with {what}; it authorises only a self-hosted worker's "
        "calls (see the gateway README, Self-hosted workers)"
    )


async def authorise(store: Store, credential: Credential, operation_id: str, path: Mapping[str, Any]) -> None:
    """Raise unless ``credential`` may call ``operation_id`` with the path parameters ``path``."""
    rules = {"environment_key": ENVIRONMENT_KEY, "sessions_token": SESSIONS_TOKEN, "worker_token": WORKER_TOKEN}[
        credential.kind
    ]
    scope = rules.get(operation_id)
    if scope is None:
        raise _denied(credential, operation_id)
    if scope in ("queue", "item"):
        environment_id = str(path.get("environment_id", ""))
        if environment_id != credential.environment_id:
            raise NotFound(f"environment {environment_id!r} not found")
        work_id = str(path.get("work_id", ""))
        if credential.kind == "sessions_token" and work_id != credential.work_id:
            raise NotFound(f"work item {work_id!r} not found")
    elif scope == "session":
        await _session(store, credential, str(path.get("session_id", "")))
    elif scope in ("memory_read", "memory_write"):
        await _memory_store(store, credential, str(path.get("memory_store_id", "")), write=scope == "memory_write")
    logger.debug("worker credential %s (%s) authorised for %s", credential.id, credential.kind, operation_id)


async def _session(store: Store, credential: Credential, session_id: str) -> Mapping[str, Any]:
    """The session document, if the credential reaches it (else 404); a code-session id (``cse_…``) names its
    session."""
    session_id = session_id_of(session_id)
    if credential.kind == "worker_token":
        if (
            session_id != credential.session_id
            or await store.get(credential.workspace, SESSION_TYPE, session_id) is None
        ):
            raise NotFound(f"session {session_id!r} not found")
        return {}
    if credential.kind == "sessions_token" and session_id != credential.session_id:
        raise NotFound(f"session {session_id!r} not found")
    record = await store.get(credential.workspace, SESSION_TYPE, session_id)
    if record is None or record.doc.get("environment_id") != credential.environment_id:
        raise NotFound(f"session {session_id!r} not found")
    return record.doc


async def _memory_store(store: Store, credential: Credential, memory_store_id: str, *, write: bool) -> None:
    session = await _session(store, credential, credential.session_id or "")
    attached = [
        r
        for r in session.get("resources") or []
        if isinstance(r, Mapping) and r.get("type") == "memory_store" and r.get("memory_store_id") == memory_store_id
    ]
    if not attached:
        raise NotFound(f"memory store {memory_store_id!r} not found")
    if write and all(r.get("access") == "read_only" for r in attached):
        raise PermissionDenied(f"memory store {memory_store_id!r} is attached to this session read-only")
