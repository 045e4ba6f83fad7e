"""Sessions (``/v1/sessions``) and what hangs off them: resources, the primary thread and the event log.

- **Create** resolves ``agent`` (an id pins the agent's current version; ``{type: agent, id, version}`` pins one;
  ``agent_with_overrides`` replaces model/system/tools/mcp_servers/skills for this session only) into the full
  ``BetaManagedAgentsSessionAgent`` snapshot, multiagent rosters into full thread-agent definitions. The agent, the
  environment, every vault, file and memory store must exist in the workspace (404) and must not be archived (400).
  ``initial_events`` are appended to the event log. A session starts ``idle``; the runtime (:mod:`gateway.runtime`)
  moves it.
- **One row per session** (type ``session``): resources and the primary thread live in its document, so every
  change (resource add/delete/rotate, update, outcome) is one compare-and-set write. Keys starting with ``_`` are
  private (the primary thread; a repository token, encrypted) and never leave this module.
- **Threads**: every session has one primary thread (``sthr_…``, ``parent_thread_id`` null) running the session's
  agent, and the child threads the runtime spawned for a multiagent agent (``_threads``: agent, status, usage).
  No thread can be archived on its own. The session's event list and stream show the primary thread's events and
  what child threads cross-post (:data:`gateway.storage.session_events.CROSS_POSTED`); a thread's own list and
  stream show only its events.
- **Archive** makes the session read-only (update, send, resource changes → 400) and hides it from lists unless
  ``include_archived``; **delete** removes the session, its resources and its events (``session_deleted``).
- Lists are the bidirectional cursor envelope ``{data, next_page, prev_page}`` ordered by ``created_at``
  (``order`` asc|desc, default desc); a cursor carries its order and direction.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.errors import InvalidRequest, NotFound
from gateway.storage import agents
from gateway.storage.pagination import bad_cursor, clamp_limit, decode_cursor, encode_cursor, page
from gateway.storage.resource import Kind, patch_metadata, timestamps
from gateway.storage.session_events import EventLog, tail
from gateway.storage.store import Record, Store, new_id, parse_rfc3339, record_of, rfc3339, utcnow, valid_id
from gateway.storage.tables import resources as table

KIND = Kind("session", "sesn")
RESOURCE_PREFIX = "sesrsc"
THREAD_PREFIX = "sthr"
OUTCOME_PREFIX = "outc"
STATUSES = ("rescheduling", "running", "idle", "terminated")
UPDATABLE = ("agent", "budget", "metadata", "title")  # the fields a session.updated event may carry
SCAN_BATCH = 200  # rows read per round when a list filter is evaluated in Python
Seal = Callable[[str], str]  # encrypts a write-only secret for storage


# --- references ---------------------------------------------------------------------------------------------------
async def _live(store: Store, workspace: str, type_: str, id_: str, label: str) -> Record:
    """A referenced resource: 404 when absent (or another workspace's), 400 when archived."""
    record = await store.get(workspace, type_, id_)
    if record is None:
        raise NotFound(f"{label} {id_!r} not found")
    if record.archived_at is not None:
        raise InvalidRequest(f"{label} {id_!r} is archived and cannot be used by a session")
    return record


async def _agent_at(store: Store, workspace: str, agent_id: str, version: int | None) -> Record:
    """The agent as it was at ``version`` (None: its current version)."""
    current = await _live(store, workspace, agents.TYPE, agent_id, "agent")
    if version is None or version == current.version:
        return current
    found = await store.get_version(workspace, agents.TYPE, agent_id, version)
    if found is None:
        raise NotFound(f"agent {agent_id!r} has no version {version}")
    return found[1]


def _thread_agent(record: Record) -> dict[str, Any]:
    """A stored agent (version) as a ``BetaManagedAgentsSessionThreadAgent``."""
    doc = record.doc
    out: dict[str, Any] = {
        "id": record.id,
        "type": "agent",
        "version": record.version,
        "name": doc.get("name", ""),
        "description": doc.get("description"),
        "system": doc.get("system"),
        "model": doc.get("model") or {"id": ""},
        "tools": list(doc.get("tools") or []),
        "mcp_servers": list(doc.get("mcp_servers") or []),
        "skills": list(doc.get("skills") or []),
        "execution_identity": doc.get("execution_identity") or dict(agents.SERVICE_ACCOUNT),
    }
    return out


async def _roster_entry(store: Store, workspace: str, ref: Any) -> dict[str, Any]:
    if isinstance(ref, Mapping) and ref.get("type") == "agent" and isinstance(ref.get("id"), str):
        version = ref.get("version")
        found = await store.get_version(workspace, agents.TYPE, ref["id"], int(version or 1))
        if found is None:
            raise NotFound(f"agent {ref['id']!r} (version {version}) of the multiagent roster not found")
        return _thread_agent(found[1])
    return dict(ref) if isinstance(ref, Mapping) else {"type": "advisor", "model": str(ref)}


async def _session_multiagent(store: Store, workspace: str, value: Any) -> dict[str, Any] | None:
    """An agent's multiagent config with every roster reference replaced by the full agent definition."""
    if not isinstance(value, Mapping):
        return None
    out = dict(value)
    if out.get("type") == "coordinator":
        out["agents"] = [await _roster_entry(store, workspace, a) for a in out.get("agents") or []]
    elif out.get("type") == "multiagent_20261001":
        for key in ("subagents", "workflows"):
            switch = out.get(key)
            if isinstance(switch, Mapping) and switch.get("type") == "enabled":
                predefined = [await _roster_entry(store, workspace, a) for a in switch.get("predefined_agents") or []]
                out[key] = {**switch, "predefined_agents": predefined}
    return out


async def _resolve_agent(store: Store, workspace: str, ref: Any) -> dict[str, Any]:
    """``agent`` of a create request → the session's agent snapshot."""
    if isinstance(ref, str):
        ref = {"type": "agent", "id": ref}
    if not isinstance(ref, Mapping) or not isinstance(ref.get("id"), str):
        raise InvalidRequest("agent: an agent id or {type: agent, id, version} is required")
    version = ref.get("version")
    record = await _agent_at(store, workspace, ref["id"], version if isinstance(version, int) else None)
    snapshot = _thread_agent(record)
    multiagent = await _session_multiagent(store, workspace, record.doc.get("multiagent"))
    if multiagent is not None:
        snapshot["multiagent"] = multiagent
    if ref.get("type") == "agent_with_overrides":
        if "model" in ref:
            if ref["model"] is None:
                raise InvalidRequest("agent.model: agent_model_required (the model cannot be cleared)")
            snapshot["model"] = agents.model_config(ref["model"])
        if "system" in ref:
            snapshot["system"] = ref["system"]
        if "tools" in ref:
            snapshot["tools"] = [agents.tool_config(t) for t in ref["tools"] or []]
        if "mcp_servers" in ref:
            snapshot["mcp_servers"] = [dict(s) for s in ref["mcp_servers"] or []]
        if "skills" in ref:
            snapshot["skills"] = [agents.skill_ref(s) for s in ref["skills"] or []]
    for key in ("model", "tools", "mcp_servers", "skills", "execution_identity", "multiagent"):
        if key in snapshot:
            snapshot[key] = agents.compact(snapshot[key])
    return snapshot


# --- resources ----------------------------------------------------------------------------------------------------
def _repo_name(url: str) -> str:
    name = url.rstrip("/").rsplit("/", 1)[-1]
    return name[:-4] if name.endswith(".git") else name or "repository"


async def _resource(store: Store, workspace: str, spec: Mapping[str, Any], seal: Seal | None) -> dict[str, Any]:
    """A resource parameter → the stored resource (with its id and timestamps; tokens sealed, never echoed)."""
    now = rfc3339(utcnow())
    kind = spec.get("type")
    base: dict[str, Any] = {"id": new_id(RESOURCE_PREFIX), "type": kind, "created_at": now, "updated_at": now}
    if kind == "file":
        file_id = str(spec.get("file_id", ""))
        await _live(store, workspace, "file", file_id, "file")
        return {**base, "file_id": file_id, "mount_path": spec.get("mount_path") or f"/mnt/session/uploads/{file_id}"}
    if kind == "memory_store":
        store_id = str(spec.get("memory_store_id", ""))
        memory_store = await _live(store, workspace, "memory_store", store_id, "memory store")
        name = memory_store.doc.get("name")
        out = {
            **base,
            "memory_store_id": store_id,
            "access": spec.get("access") or "read_write",
            "instructions": spec.get("instructions"),
            "name": name,
            "description": memory_store.doc.get("description"),
            "mount_path": f"/mnt/memory/{name}" if isinstance(name, str) and name else None,
        }
        return out
    if kind == "github_repository":
        url = str(spec.get("url", ""))
        out = {**base, "url": url, "mount_path": spec.get("mount_path") or f"/workspace/{_repo_name(url)}"}
        if isinstance(spec.get("checkout"), Mapping):
            out["checkout"] = dict(spec["checkout"])
        token = spec.get("authorization_token")
        if isinstance(token, str) and seal is not None:
            out["_token"] = seal(token)
        return out
    raise InvalidRequest(f"resources: unsupported resource type {kind!r}")


def resource_response(resource: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in resource.items() if not k.startswith("_") and v is not None}


# --- responses ----------------------------------------------------------------------------------------------------
def response(record: Record) -> dict[str, Any]:
    doc = {k: v for k, v in record.doc.items() if not k.startswith("_")}
    doc["resources"] = [resource_response(r) for r in doc.get("resources") or []]
    if doc.get("budget") is None:
        doc.pop("budget", None)
    return {**doc, **timestamps(record)}


def thread_response(record: Record) -> dict[str, Any]:
    """The primary thread of a session: it runs the session's agent and shares its status."""
    thread = record.doc["_thread"]
    agent = {k: v for k, v in record.doc["agent"].items() if k != "multiagent"}
    return {
        "id": thread["id"],
        "type": "session_thread",
        "session_id": record.id,
        "parent_thread_id": None,
        "agent": agent,
        "status": record.doc.get("status", "idle"),
        "stats": {"active_seconds": 0.0},
        "usage": {"input_tokens": 0, "output_tokens": 0, "cache_read_input_tokens": 0},
        "created_at": thread["created_at"],
        "updated_at": rfc3339(record.updated_at),
        "archived_at": rfc3339(record.archived_at),
    }


# --- events -------------------------------------------------------------------------------------------------------
def _event_doc(event: Mapping[str, Any]) -> dict[str, Any]:
    # a client never sets an event's id or the runtime's private ``_`` annotations
    doc = {
        k: v for k, v in event.items() if k not in ("id", "processed_at") and not k.startswith("_") and v is not None
    }
    if doc.get("type") == "user.define_outcome":
        doc["outcome_id"] = new_id(OUTCOME_PREFIX)
    return doc


def _outcomes(docs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "type": "outcome_evaluation",
            "outcome_id": d["outcome_id"],
            "description": d.get("description", ""),
            "iteration": 0,
            "result": "pending",
        }
        for d in docs
        if d.get("type") == "user.define_outcome"
    ]


# --- operations ---------------------------------------------------------------------------------------------------
async def create(
    store: Store,
    workspace: str,
    body: Mapping[str, Any],
    *,
    seal: Seal | None = None,
    deployment_id: str | None = None,
    identity: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """``deployment_id``: the deployment whose run creates this session (``sessions.list(deployment_id=…)``);
    ``identity``: the creating key's identity, kept privately (``_identity``) to meter the session's model calls."""
    agent = await _resolve_agent(store, workspace, body.get("agent"))
    environment_id = str(body.get("environment_id", ""))
    await _live(store, workspace, "environment", environment_id, "environment")
    vault_ids = [str(v) for v in body.get("vault_ids") or []]
    for vault_id in vault_ids:
        await _live(store, workspace, "vault", vault_id, "vault")
    if body.get("user_profile_id") is not None:  # not in the contract's body; resolved when a client sends it anyway
        await _live(store, workspace, "user_profile", str(body["user_profile_id"]), "user profile")
    attached = [await _resource(store, workspace, r, seal) for r in body.get("resources") or []]
    initial = [_event_doc(e) for e in body.get("initial_events") or []]
    session_id = KIND.new_id()
    doc: dict[str, Any] = {
        "agent": agent,
        "environment_id": environment_id,
        "resources": attached,
        "vault_ids": vault_ids,
        "metadata": dict(body.get("metadata") or {}),
        "title": body.get("title"),
        "status": "idle",
        "usage": {"input_tokens": 0, "output_tokens": 0, "cache_read_input_tokens": 0},
        "stats": {"active_seconds": 0.0},
        "outcome_evaluations": _outcomes(initial),
        "budget": dict(body["budget"]) if isinstance(body.get("budget"), Mapping) else None,
        "deployment_id": deployment_id,
        "_thread": {"id": new_id(THREAD_PREFIX), "created_at": rfc3339(utcnow())},
    }
    if identity:
        doc["_identity"] = dict(identity)
    record = await store.create(workspace, KIND.type, session_id, doc)
    if initial:
        await EventLog(store, workspace).append(session_id, initial, thread_id=doc["_thread"]["id"])
    return response(record)


async def retrieve(store: Store, workspace: str, session_id: str) -> dict[str, Any]:
    return response(await KIND.get(store, workspace, session_id))


async def update(store: Store, workspace: str, session_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
    def change(current: Record) -> dict[str, Any]:
        if "vault_ids" in body:  # (the SDK: "not yet supported; requests setting this field are rejected")
            raise InvalidRequest("vault_ids: updating the vaults of a session is not supported yet")
        doc = dict(current.doc)
        if "agent" in body and isinstance(body["agent"], Mapping):
            if doc.get("status") == "running":
                raise InvalidRequest("agent: the session is running; interrupt it before changing its agent")
            agent = dict(doc["agent"])
            if "tools" in body["agent"]:
                agent["tools"] = agents.compact([agents.tool_config(t) for t in body["agent"]["tools"] or []])
            if "mcp_servers" in body["agent"]:
                agent["mcp_servers"] = agents.compact([dict(s) for s in body["agent"]["mcp_servers"] or []])
            doc["agent"] = agent
        if "budget" in body:
            if body["budget"] is None:
                doc["budget"] = None
            elif doc.get("budget") is None:
                raise InvalidRequest(
                    "budget: budget_create_only (a budget can only be set when the session is created)"
                )
            else:
                doc["budget"] = dict(body["budget"])
        if "metadata" in body:
            doc["metadata"] = patch_metadata(doc.get("metadata"), body["metadata"])
        if "title" in body:
            doc["title"] = body["title"]
        changed.clear()
        changed.update({k: doc.get(k) for k in UPDATABLE if doc.get(k) != current.doc.get(k)})
        return doc

    changed: dict[str, Any] = {}
    record = await KIND.update(store, workspace, session_id, change)
    if changed:  # the API's ``session.updated`` event: only the fields that changed
        # a removed budget is left out: the contract's nullable ``allOf`` members do not accept an explicit null
        fields = {k: v for k, v in changed.items() if v is not None or k == "title"}
        event = {"type": "session.updated", **fields}
        await EventLog(store, workspace).append(session_id, [event], thread_id=record.doc["_thread"]["id"])
    return response(record)


async def archive(store: Store, workspace: str, session_id: str) -> dict[str, Any]:
    current = await KIND.get(store, workspace, session_id)
    if current.doc.get("status") == "running":
        raise InvalidRequest(f"session {session_id!r} is running; interrupt it before archiving")
    return response(await KIND.archive(store, workspace, session_id))


async def delete(store: Store, workspace: str, session_id: str) -> dict[str, Any]:
    current = await KIND.get(store, workspace, session_id)
    if current.doc.get("status") == "running":
        raise InvalidRequest(f"session {session_id!r} is running; interrupt it before deleting")
    deleted = await KIND.delete(store, workspace, session_id)
    await EventLog(store, workspace).delete_stream(session_id)
    return deleted


def _bounds(values: Mapping[str, str | None]) -> dict[str, datetime] | None:
    """Parsed ``created_at`` bounds; None when one is not a timestamp (the list is then empty, see agents)."""
    out: dict[str, datetime] = {}
    for name, value in values.items():
        if value:
            parsed = parse_rfc3339(value)
            if parsed is None:  # issue 17: a malformed bound is the client's error, not an empty list
                raise InvalidRequest(f"created_at[{name}]: must be an RFC 3339 timestamp")
            out[name] = parsed
    return out


async def list_sessions(
    store: Store,
    workspace: str,
    *,
    limit: int | None = None,
    page_cursor: str | None = None,
    order: str | None = None,
    include_archived: bool = False,
    agent_id: str | None = None,
    agent_version: int | None = None,
    deployment_id: str | None = None,
    memory_store_id: str | None = None,
    statuses: Sequence[str] | None = None,
    created: Mapping[str, str | None] | None = None,
) -> dict[str, Any]:
    """The bidirectional page: ``next_page`` continues in ``order``, ``prev_page`` walks back (null on the first
    page). A cursor used with another ``order`` names no page (404, see gateway.storage.pagination)."""
    order = "asc" if order == "asc" else "desc"
    empty: dict[str, Any] = {"data": [], "next_page": None, "prev_page": None}
    bounds = _bounds(created or {})
    if bounds is None:
        return empty
    for value in (agent_id, deployment_id, memory_store_id):
        if value is not None and not valid_id(value):
            return empty
    size = clamp_limit(limit)
    kind = f"sessions:{order}"
    cursor = decode_cursor(page_cursor, kind)
    wanted = {s for s in statuses or () if s in STATUSES} if statuses else None

    def matches(record: Record) -> bool:
        # evaluated here, not in SQL: PostgreSQL's json operators fail on a document holding "\u0000" anywhere
        doc = record.doc
        agent = doc.get("agent") or {}
        if agent_id is not None and (
            agent.get("id") != agent_id or (agent_version is not None and agent.get("version") != agent_version)
        ):
            return False
        if deployment_id is not None and doc.get("deployment_id") != deployment_id:
            return False
        if memory_store_id is not None and not any(
            r.get("type") == "memory_store" and r.get("memory_store_id") == memory_store_id
            for r in doc.get("resources") or []
        ):
            return False
        return wanted is None or doc.get("status") in wanted

    query = sa.select(table).where(table.c.workspace == workspace, table.c.type == KIND.type)
    if not include_archived:
        query = query.where(table.c.archived_at.is_(None))
    ops = {"gt": "__gt__", "gte": "__ge__", "lt": "__lt__", "lte": "__le__"}
    for name, bound in bounds.items():
        query = query.where(getattr(table.c.created_at, ops[name])(bound))

    backwards = False
    position: tuple[datetime, str] | None = None
    if cursor is not None:
        if len(cursor) != 3 or cursor[0] not in ("next", "prev") or not all(isinstance(k, str) for k in cursor[1:]):
            raise bad_cursor()
        moment = parse_rfc3339(cursor[1])
        if moment is None or not valid_id(cursor[2]):
            raise bad_cursor()
        backwards = cursor[0] == "prev"
        position = (moment, cursor[2])
    ascending = (order == "asc") != backwards
    keys = (table.c.created_at.asc(), table.c.id.asc()) if ascending else (table.c.created_at.desc(), table.c.id.desc())

    def beyond(created_at: datetime, id_: str) -> Any:
        """The rows after (created_at, id_) in the scan direction."""
        if ascending:
            return sa.or_(table.c.created_at > created_at, sa.and_(table.c.created_at == created_at, table.c.id > id_))
        return sa.or_(table.c.created_at < created_at, sa.and_(table.c.created_at == created_at, table.c.id < id_))

    filtered = any(v is not None for v in (agent_id, deployment_id, memory_store_id, wanted))
    batch = max(size + 1, SCAN_BATCH) if filtered else size + 1
    found: list[Record] = []
    async with store.engine.connect() as conn:
        while len(found) <= size:
            scan = query if position is None else query.where(beyond(*position))
            rows = (await conn.execute(scan.order_by(*keys).limit(batch))).all()
            found.extend(record for record in map(record_of, rows) if matches(record))
            if len(rows) < batch:
                break
            position = (rows[-1].created_at, rows[-1].id)
    records = found[:size]
    more = len(found) > size
    if backwards:
        records.reverse()

    def at(record: Record, direction: str) -> str:
        return encode_cursor(kind, [direction, rfc3339(record.created_at), record.id])

    if not records:
        return empty
    next_page: str | None
    prev_page: str | None
    if backwards:
        next_page = at(records[-1], "next")
        prev_page = at(records[0], "prev") if more else None
    else:
        next_page = at(records[-1], "next") if more else None
        prev_page = at(records[0], "prev") if cursor is not None else None
    return {"data": [response(r) for r in records], "next_page": next_page, "prev_page": prev_page}


# --- sub-resources ------------------------------------------------------------------------------------------------
RESOURCE_KIND = Kind("session_resource", RESOURCE_PREFIX, label="session resource")


def _find(current: Record, resource_id: str) -> int:
    for index, item in enumerate(current.doc.get("resources") or []):
        if item.get("id") == resource_id:
            return index
    raise RESOURCE_KIND.not_found(resource_id)


async def add_resource(store: Store, workspace: str, session_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
    await KIND.get_live(store, workspace, session_id)
    added = await _resource(store, workspace, {**body, "type": "file"}, None)

    def change(current: Record) -> dict[str, Any]:
        return {**current.doc, "resources": [*(current.doc.get("resources") or []), added]}

    await KIND.update(store, workspace, session_id, change)
    return resource_response(added)


async def retrieve_resource(store: Store, workspace: str, session_id: str, resource_id: str) -> dict[str, Any]:
    current = await KIND.get(store, workspace, session_id)
    return resource_response(current.doc["resources"][_find(current, resource_id)])


async def update_resource(
    store: Store, workspace: str, session_id: str, resource_id: str, body: Mapping[str, Any], *, seal: Seal
) -> dict[str, Any]:
    """Rotate a repository's ``authorization_token`` (the only updatable field)."""
    updated: dict[str, Any] = {}

    def change(current: Record) -> dict[str, Any]:
        items = [dict(r) for r in current.doc.get("resources") or []]
        index = _find(current, resource_id)
        if items[index].get("type") != "github_repository":
            raise InvalidRequest("authorization_token: only github_repository resources have a token to update")
        items[index]["_token"] = seal(str(body.get("authorization_token", "")))
        items[index]["updated_at"] = rfc3339(utcnow())
        updated.update(items[index])
        return {**current.doc, "resources": items}

    await KIND.update(store, workspace, session_id, change)
    return resource_response(updated)


async def delete_resource(store: Store, workspace: str, session_id: str, resource_id: str) -> dict[str, Any]:
    def change(current: Record) -> dict[str, Any]:
        items = list(current.doc.get("resources") or [])
        del items[_find(current, resource_id)]
        return {**current.doc, "resources": items}

    await KIND.update(store, workspace, session_id, change)
    return {"id": resource_id, "type": "session_resource_deleted"}


def _slice(items: Sequence[Mapping[str, Any]], kind: str, limit: int | None, cursor: str | None) -> dict[str, Any]:
    """A ``{data, next_page}`` page over an in-document list (cursor: the id of the previous page's last item)."""
    size = clamp_limit(limit, default=1000, maximum=1000)
    after = decode_cursor(cursor, kind)
    start = 0
    if after is not None:
        ids = [item.get("id") for item in items]
        if len(after) != 1 or after[0] not in ids:
            raise bad_cursor()
        start = ids.index(after[0]) + 1
    chunk = list(items[start : start + size])
    more = start + size < len(items)
    return page(chunk, encode_cursor(kind, [chunk[-1]["id"]]) if more and chunk else None)


async def list_resources(
    store: Store, workspace: str, session_id: str, *, limit: int | None, page_cursor: str | None
) -> dict[str, Any]:
    current = await KIND.get(store, workspace, session_id)
    items = [resource_response(r) for r in current.doc.get("resources") or []]
    return _slice(items, f"resources:{session_id}", limit, page_cursor)


# --- threads ------------------------------------------------------------------------------------------------------
def _children(record: Record) -> list[dict[str, Any]]:
    return [dict(t) for t in record.doc.get("_threads") or [] if isinstance(t, Mapping)]


def child_thread_response(record: Record, child: Mapping[str, Any]) -> dict[str, Any]:
    """A child thread (spawned by the session's runtime), kept in the session's ``_threads``."""
    usage = dict(child.get("usage") or {})
    return {
        "id": child["id"],
        "type": "session_thread",
        "session_id": record.id,
        "parent_thread_id": child.get("parent_thread_id"),
        "agent": dict(child.get("agent") or {}),
        "status": child.get("status", "idle"),
        "stats": {"active_seconds": 0.0},
        "usage": {k: int(usage.get(k) or 0) for k in ("input_tokens", "output_tokens", "cache_read_input_tokens")},
        "created_at": child["created_at"],
        "updated_at": child.get("updated_at") or child["created_at"],
        "archived_at": None,
    }


def child_thread(record: Record, thread_id: str) -> dict[str, Any] | None:
    return next((dict(t) for t in _children(record) if t.get("id") == thread_id), None)


async def thread(store: Store, workspace: str, session_id: str, thread_id: str) -> Record:
    """The session that has a thread ``thread_id``, primary or child (404 otherwise)."""
    current = await KIND.get(store, workspace, session_id)
    if current.doc.get("_thread", {}).get("id") != thread_id and child_thread(current, thread_id) is None:
        raise NotFound(f"session thread {thread_id!r} not found")
    return current


async def list_threads(
    store: Store, workspace: str, session_id: str, *, limit: int | None, page_cursor: str | None
) -> dict[str, Any]:
    current = await KIND.get(store, workspace, session_id)
    items = [thread_response(current), *(child_thread_response(current, c) for c in _children(current))]
    return _slice(items, f"threads:{session_id}", limit, page_cursor)


async def retrieve_thread(store: Store, workspace: str, session_id: str, thread_id: str) -> dict[str, Any]:
    current = await thread(store, workspace, session_id, thread_id)
    child = child_thread(current, thread_id)
    return thread_response(current) if child is None else child_thread_response(current, child)


async def archive_thread(store: Store, workspace: str, session_id: str, thread_id: str) -> dict[str, Any]:
    current = await thread(store, workspace, session_id, thread_id)
    if child_thread(current, thread_id) is not None:
        raise InvalidRequest(
            f"session thread {thread_id!r} is a child thread: it ends when its task does (or when the session's "
            "turn is interrupted); archiving it on its own is not supported"
        )
    raise InvalidRequest(
        f"session thread {thread_id!r} is the session's primary thread and cannot be archived on its own; "
        "archive the session instead"
    )


async def add_thread(store: Store, workspace: str, session_id: str, child: Mapping[str, Any]) -> dict[str, Any]:
    """Record a child thread (``id``, ``agent``, ``parent_thread_id``, private ``_call``: the call that spawned it);
    a thread already recorded for the same call is returned instead (a runtime taking over repeats the spawn)."""
    found: dict[str, Any] = {}

    async def change(record: Record) -> dict[str, Any]:
        found.clear()
        same = next((t for t in _children(record) if t.get("_call") == child.get("_call")), None)
        if same is not None:
            found.update(same)
            return dict(record.doc)
        now = rfc3339(utcnow())
        entry = {"status": "idle", "created_at": now, "updated_at": now, **child}
        found.update(entry)
        return {**record.doc, "_threads": [*_children(record), entry]}

    await store.update(workspace, KIND.type, session_id, change)
    return found


# --- the runtime's view -------------------------------------------------------------------------------------------
USAGE_COUNTERS = ("input_tokens", "output_tokens", "cache_read_input_tokens")


def _progress(
    status: str | None, usage: Mapping[str, int] | None, thread_id: str | None
) -> Callable[[Record], dict[str, Any]]:
    def added(current: Any) -> dict[str, Any]:
        total = dict(current or {})
        for key in USAGE_COUNTERS:
            total[key] = int(total.get(key) or 0) + int((usage or {}).get(key) or 0)
        return total

    def change(record: Record) -> dict[str, Any]:
        doc = dict(record.doc)
        if thread_id is not None:
            children = []
            for child in _children(record):
                if child.get("id") == thread_id:
                    child = {**child, "updated_at": rfc3339(utcnow())}
                    if status is not None:
                        child["status"] = status
                    if usage:
                        child["usage"] = added(child.get("usage"))
                children.append(child)
            doc["_threads"] = children
        elif status is not None:
            doc["status"] = status
        if usage:
            doc["usage"] = added(doc.get("usage"))
        return doc

    return change


async def record_progress(
    store: Store,
    workspace: str,
    session_id: str,
    *,
    status: str | None = None,
    usage: Mapping[str, int] | None = None,
    thread_id: str | None = None,
) -> None:
    """Set the session's ``status`` and add ``usage`` to its cumulative counters (archived sessions included: an
    archive ends as ``terminated``). A deleted session is left alone. With the id of a child ``thread_id``, the
    status is the thread's and the usage counts for the thread and the session."""
    change = _progress(status, usage, thread_id)

    async def mutate(record: Record) -> dict[str, Any]:
        return change(record)

    await store.update(workspace, KIND.type, session_id, mutate)


def progress_within(
    workspace: str,
    session_id: str,
    *,
    status: str | None = None,
    usage: Mapping[str, int] | None = None,
    thread_id: str | None = None,
) -> Callable[[AsyncConnection], Awaitable[None]]:
    """:func:`record_progress` as a step of another transaction (``EventLog.append(within=…)``), so a status event
    and the session's status become visible together."""

    async def apply(conn: AsyncConnection) -> None:
        await Store.update_within(conn, workspace, KIND.type, session_id, _progress(status, usage, thread_id))

    return apply


# --- events -------------------------------------------------------------------------------------------------------
async def send_events(
    store: Store,
    workspace: str,
    session_id: str,
    body: Mapping[str, Any],
    *,
    current: Record | None = None,
    within: Callable[[AsyncConnection], Awaitable[None]] | None = None,
) -> dict[str, Any]:
    """Store a client's events. ``current``: the live session as the caller just read it (saves a read);
    ``within``: one more step of the transaction that stores the events (the runtime records its wish to run)."""
    if current is None:
        current = await KIND.get_live(store, workspace, session_id)
    docs = [_event_doc(e) for e in body.get("events") or []]
    primary = current.doc["_thread"]["id"]
    for doc in docs:
        named = doc.get("session_thread_id")
        if named is not None and named != primary and child_thread(current, str(named)) is None:
            raise NotFound(f"session thread {named!r} not found")
    outcomes = _outcomes(docs)
    if outcomes:

        def change(record: Record) -> dict[str, Any]:
            return {**record.doc, "outcome_evaluations": [*(record.doc.get("outcome_evaluations") or []), *outcomes]}

        await KIND.update(store, workspace, session_id, change)

    async def live(conn: AsyncConnection) -> None:
        # deleted meanwhile: store nothing (checked after the insert, in its transaction, with the row share-locked
        # on PostgreSQL: a delete either came first and is seen here, or waits and then deletes these events too)
        exists = sa.select(table.c.id).where(
            table.c.id == session_id, table.c.workspace == workspace, table.c.type == KIND.type
        )
        if (await conn.execute(exists.with_for_update(read=True))).first() is None:
            raise KIND.not_found(session_id)
        if within is not None:
            await within(conn)

    stored = await EventLog(store, workspace).append(session_id, docs, thread_id=primary, within=live)
    return {"data": stored}


async def list_events(
    store: Store,
    workspace: str,
    session_id: str,
    *,
    limit: int | None,
    page_cursor: str | None,
    order: str | None = None,
    types: Sequence[str] | None = None,
    created: Mapping[str, str | None] | None = None,
    thread_id: str | None = None,
) -> dict[str, Any]:
    current = await (
        KIND.get(store, workspace, session_id) if thread_id is None else thread(store, workspace, session_id, thread_id)
    )
    primary = current.doc.get("_thread", {}).get("id") if thread_id is None else None
    bounds = _bounds(created or {})
    if bounds is None:
        return page([], None)
    data, next_page = await EventLog(store, workspace).page(
        session_id,
        limit=limit,
        page=page_cursor,
        order="desc" if order == "desc" else "asc",
        types=list(types or ()),
        thread_id=thread_id,
        primary=primary,
        gt=bounds.get("gt"),
        gte=bounds.get("gte"),
        lt=bounds.get("lt"),
        lte=bounds.get("lte"),
    )
    return page(data, next_page)


async def open_stream(
    store: Store,
    workspace: str,
    session_id: str,
    *,
    last_event_id: str | None,
    thread_id: str | None = None,
    disconnected: Callable[[], Awaitable[bool]] | None = None,
    previews: Sequence[str] = (),
) -> AsyncIterator[bytes]:
    """The SSE body of ``/events/stream`` (or a thread's ``/stream``): 404 now if the session (thread) does not
    exist. Without ``Last-Event-ID`` only events sent after connecting are delivered (the API's "no replay"); with
    one, every later event is replayed first (an id that names no event of this session replays everything).
    ``previews``: the event types (``agent.message``, ``agent.thinking``) whose ``event_start`` / ``event_delta``
    previews this connection asked for (``event_deltas[]``); primary stream only."""
    current = await (
        KIND.get(store, workspace, session_id) if thread_id is None else thread(store, workspace, session_id, thread_id)
    )
    primary = current.doc.get("_thread", {}).get("id") if thread_id is None else None
    log = EventLog(store, workspace)
    if last_event_id:
        after = await log.seq_of(session_id, last_event_id.strip()) or 0
    else:
        after = await log.last_seq(session_id)

    async def alive() -> bool:
        return await store.get(workspace, KIND.type, session_id) is not None

    return tail(
        log,
        session_id,
        after_seq=after,
        thread_id=thread_id,
        primary=primary,
        alive=alive,
        disconnected=disconnected,
        previews=frozenset(previews),
    )
