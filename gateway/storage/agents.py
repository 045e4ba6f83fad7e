"""Agents (``/v1/agents``) with the SDK's semantics: every update increments ``version`` and appends an immutable
snapshot (readable with ``?version=N`` and ``/versions``); archived agents are read-only and listed only with
``include_archived``; responses are materialised into the full ``BetaManagedAgentsAgent`` shape (model as an
object, tool configs with ``enabled``/``permission_policy``, skill versions, an ``execution_identity``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.errors import Conflict, NotFound
from gateway.storage import skills
from gateway.storage.pagination import page
from gateway.storage.resource import Kind, body_fields, patch_metadata, timestamps
from gateway.storage.store import Record, Store

KIND = Kind("agent", "agent", versioned=True)
TYPE = KIND.type
ALLOW = {"type": "always_allow"}
ASK = {"type": "always_ask"}
SERVICE_ACCOUNT = {"type": "service_account"}
_CLEARABLE_LISTS = ("mcp_servers", "skills", "tools")
_CLEARABLE_SCALARS = ("description", "system", "multiagent")


# --- materialisation: request params -> the stored (response-shaped) document ------------------------------------
def model_config(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        return {"id": value}
    model = dict(value)
    effort = model.get("effort")
    if isinstance(effort, str):
        model["effort"] = {"type": effort}
    return model


def _url_source(value: Any) -> Any:
    return {"type": value} if isinstance(value, str) else value


def _tool_config(config: Mapping[str, Any], default: Mapping[str, Any], *, typed: bool) -> dict[str, Any]:
    out = dict(config)
    if typed:
        out["type"] = out["name"]
    if out.get("enabled") is None:
        out["enabled"] = default["enabled"]
    if out.get("permission_policy") is None:
        out["permission_policy"] = default["permission_policy"]
    sources = out.get("url_sources")
    if isinstance(sources, Mapping):
        out["url_sources"] = {k: _url_source(v) for k, v in sources.items()}
    return out


def _default_config(value: Any, policy: Mapping[str, str]) -> dict[str, Any]:
    out = dict(value or {})
    if out.get("enabled") is None:
        out["enabled"] = True
    if out.get("permission_policy") is None:
        out["permission_policy"] = dict(policy)
    return out


def tool_config(tool: Mapping[str, Any]) -> dict[str, Any]:
    kind = tool.get("type")
    if kind == "agent_toolset_20260401":
        default = _default_config(tool.get("default_config"), ALLOW)
        configs = [_tool_config(c, default, typed=True) for c in tool.get("configs") or []]
        return {**tool, "configs": configs, "default_config": default}
    if kind == "mcp_toolset":
        default = _default_config(tool.get("default_config"), ASK)
        configs = [_tool_config(c, default, typed=False) for c in tool.get("configs") or []]
        return {**tool, "configs": configs, "default_config": default}
    return dict(tool)


def skill_ref(skill: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(skill)
    if out.get("version") is None:
        out["version"] = "latest"
    return out


class _Refs:
    """Resolves agent references of a multiagent roster to concrete ``{type: agent, id, version}``."""

    def __init__(self, store: Store, workspace: str, self_id: str, self_version: int) -> None:
        self.store, self.workspace, self.self_id, self.self_version = store, workspace, self_id, self_version

    async def agent(self, ref: Any) -> dict[str, Any]:
        if isinstance(ref, str):
            ref = {"type": "agent", "id": ref}
        if ref.get("type") == "self":
            return {"type": "agent", "id": self.self_id, "version": self.self_version}
        if ref.get("type") != "agent":
            return dict(ref)
        agent_id = ref["id"]
        if agent_id == self.self_id:
            return {**ref, "version": ref.get("version") or self.self_version}
        record = await self.store.get(self.workspace, TYPE, agent_id)
        if record is None:
            raise KIND.not_found(agent_id)
        version = ref.get("version")
        if version is None:
            version = record.version
        elif not 1 <= version <= record.version:
            raise NotFound(f"agent {agent_id!r} has no version {version}")
        return {**ref, "version": version}

    async def skill(self, ref: Mapping[str, Any]) -> dict[str, Any]:
        """A ``custom`` skill must exist, at that version, in the caller's workspace (404 otherwise); ``anthropic``
        skills are Anthropic's pre-built ones, which this gateway has no list of."""
        out = skill_ref(ref)
        if out.get("type") == "custom":
            await skills.resolve_version(self.store, self.workspace, str(out.get("skill_id")), str(out["version"]))
        return out

    async def switch(self, value: Any) -> dict[str, Any]:
        """A subagents/workflows switch: disabled by default; enabled gets its inline/predefined agents."""
        if value is None:
            return {"type": "disabled"}
        out = dict(value)
        if out.get("type") == "enabled":
            out["inline_agents"] = out.get("inline_agents") or {"type": "disabled"}
            out["predefined_agents"] = [await self.agent(a) for a in out.get("predefined_agents") or []]
        return out

    async def multiagent(self, value: Any) -> dict[str, Any] | None:
        if value is None:
            return None
        out = dict(value)
        if out.get("type") == "coordinator":
            out["agents"] = [await self.agent(a) for a in out.get("agents") or []]
        elif out.get("type") == "multiagent_20261001":
            out["advisor"] = out.get("advisor") or {"type": "disabled"}
            out["subagents"] = await self.switch(out.get("subagents"))
            out["workflows"] = await self.switch(out.get("workflows"))
        return out


def compact(value: Any) -> Any:
    """Nested ``null`` members dropped: every nullable member of these objects is optional, and absent reads the same
    to the SDK (the spec's ``nullable`` + ``oneOf`` members do not accept an explicit null)."""
    if isinstance(value, Mapping):
        return {k: compact(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [compact(v) for v in value]
    return value


_NESTED = ("model", "tools", "mcp_servers", "skills", "execution_identity", "multiagent")


async def _materialise(doc: dict[str, Any], refs: _Refs) -> dict[str, Any]:
    doc["model"] = model_config(doc["model"])
    doc["tools"] = [tool_config(t) for t in doc.get("tools") or []]
    doc["mcp_servers"] = [dict(s) for s in doc.get("mcp_servers") or []]
    doc["skills"] = [await refs.skill(s) for s in doc.get("skills") or []]
    doc["metadata"] = dict(doc.get("metadata") or {})
    doc["execution_identity"] = dict(doc.get("execution_identity") or SERVICE_ACCOUNT)
    doc["multiagent"] = await refs.multiagent(doc.get("multiagent"))
    for key in _NESTED:
        doc[key] = compact(doc[key])
    if doc["multiagent"] is None:
        del doc["multiagent"]
    doc.setdefault("description", None)
    doc.setdefault("system", None)
    return doc


def response(record: Record) -> dict[str, Any]:
    return {**record.doc, **timestamps(record), "version": record.version}


# --- operations ---------------------------------------------------------------------------------------------------
async def create(store: Store, workspace: str, body: Mapping[str, Any]) -> dict[str, Any]:
    agent_id = KIND.new_id()
    doc = body_fields(body, drop=("version",))
    doc = await _materialise(doc, _Refs(store, workspace, agent_id, 1))
    return response(await store.create(workspace, TYPE, agent_id, doc, versioned=True))


async def retrieve(store: Store, workspace: str, agent_id: str, version: int | None = None) -> dict[str, Any]:
    if version is None:
        return response(await KIND.get(store, workspace, agent_id))
    found = await store.get_version(workspace, TYPE, agent_id, version)
    if found is None:
        await KIND.get(store, workspace, agent_id)
        raise NotFound(f"agent {agent_id!r} has no version {version}")
    return response(found[1])


def _patched(current: Record, body: Mapping[str, Any]) -> dict[str, Any]:
    """``current``'s document with the update ``body`` applied (omit = keep, null clears, metadata is a patch)."""
    doc = dict(current.doc)
    for key, value in body_fields(body, drop=("version",)).items():
        if key == "metadata":
            doc["metadata"] = patch_metadata(doc.get("metadata"), value)
        elif value is None and key in ("name", "model"):
            continue  # cannot be cleared
        elif value is None and key in _CLEARABLE_LISTS:
            doc[key] = []
        elif value is None and key in _CLEARABLE_SCALARS:
            doc.pop(key, None)
            if key != "multiagent":
                doc[key] = None
        else:
            doc[key] = value
    return doc


async def update(store: Store, workspace: str, agent_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
    expected = body.get("version")

    async def mutate(current: Record) -> dict[str, Any]:
        # called with the row as it is now (again after a concurrent write), so no update is ever lost
        if expected is not None and current.version != expected:
            raise Conflict(f"version: agent {agent_id!r} is at version {current.version}, not {expected}")
        refs = _Refs(store, workspace, agent_id, current.version + 1)
        return await _materialise(_patched(current, body), refs)

    return response(await KIND.update(store, workspace, agent_id, mutate))


async def archive(store: Store, workspace: str, agent_id: str) -> dict[str, Any]:
    return response(await KIND.archive(store, workspace, agent_id))


async def list_agents(
    store: Store,
    workspace: str,
    *,
    limit: int | None,
    page_cursor: str | None,
    include_archived: bool,
    created_at_gte: str | None,
    created_at_lte: str | None,
) -> dict[str, Any]:
    records, next_page = await store.list_resources(
        workspace,
        TYPE,
        limit=limit,
        page=page_cursor,
        include_archived=include_archived,
        created={"gte": created_at_gte, "lte": created_at_lte},
    )
    return page([response(r) for r in records], next_page)


async def list_versions(
    store: Store, workspace: str, agent_id: str, *, limit: int | None, page_cursor: str | None
) -> dict[str, Any]:
    found = await store.list_versions(workspace, TYPE, agent_id, limit=limit, page=page_cursor)
    if found is None:
        raise KIND.not_found(agent_id)
    records, next_page = found
    return page([response(r) for r in records], next_page)
