"""MCP toolsets: the agent's ``mcp_servers`` reached by the gateway, their tools offered to the model, their calls
answered with ``agent.mcp_tool_use`` → ``agent.mcp_tool_result``.

Before each model request, every ``mcp_toolset`` entry of the agent whose ``mcp_server_name`` names one of its
``mcp_servers`` is listed (:func:`gateway.runtime.mcp.client.list_tools`) with the session's token for that URL
(:mod:`gateway.runtime.mcp.credentials`). Its tools are offered under their MCP names (one that another tool already
has is offered as ``<server>__<name>``), minus those configured ``enabled: false`` (``configs`` by name over
``default_config``); ``permission_policy`` ``always_allow`` → ``allow``, anything else (the materialised default
of an ``mcp_toolset`` is ``always_ask``) → ``ask``, which waits for a ``user.tool_confirmation``.

A server that cannot be listed (refused credentials, unreachable, timed out, or blocked by the environment's
``limited`` networking without ``allow_mcp_servers`` and not in ``allowed_hosts``, or at a loopback, private or
link-local address that ``runtime.egress_allowed_networks`` does not list) gets one ``session.error``
(``mcp_authentication_failed_error`` / ``mcp_connection_failed_error``, ``retry_status: retrying``: the next turn
lists it again) and is not listed again in that turn, which goes on without its tools (so a server that never
answers costs ``runtime.mcp_timeout_s`` once per turn, not per model request). A call opens a new connection with the
token as it is then; a failure of the call is an ``is_error`` result whose text says what happened."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from gateway.runtime.config import RuntimeConfig
from gateway.runtime.executor.egress import host_allowed
from gateway.runtime.guard import Networks, address_refusal
from gateway.runtime.mcp import client
from gateway.runtime.mcp.credentials import token_for
from gateway.runtime.server_tools import Outcome, ServerCall
from gateway.runtime.tools import McpRef, Offered
from gateway.storage.config import StorageConfig
from gateway.storage.secrets import SecretKeyError
from gateway.storage.store import Record, Store

TOOLSET = "mcp_toolset"
#: the annotation a listing failure's ``session.error`` carries (one per server and turn)
SERVER_MARK = "_mcp_server"
_NAME = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True, slots=True)
class Server:
    name: str
    url: str


@dataclass
class Offer:
    tools: dict[str, Offered] = field(default_factory=dict)
    #: ``session.error`` events of servers that could not be listed
    errors: list[dict[str, Any]] = field(default_factory=list)


def _permission(config: Mapping[str, Any]) -> Literal["allow", "ask"]:
    policy = config.get("permission_policy") or {}
    return "allow" if isinstance(policy, Mapping) and policy.get("type") == "always_allow" else "ask"


def error_event(server: str, failure: client.McpFailure) -> dict[str, Any]:
    kind = "mcp_authentication_failed_error" if failure.kind == "authentication" else "mcp_connection_failed_error"
    error = {"type": kind, "message": failure.message, "mcp_server_name": server, "retry_status": {"type": "retrying"}}
    return {"type": "session.error", "error": error, SERVER_MARK: server}


def toolsets(agent: Mapping[str, Any]) -> list[tuple[Server, Mapping[str, Any]]]:
    """(server, toolset entry) for each ``mcp_toolset`` of the agent that names one of its ``mcp_servers``."""
    servers = {
        str(s.get("name")): Server(str(s.get("name")), str(s.get("url")))
        for s in agent.get("mcp_servers") or []
        if isinstance(s, Mapping) and s.get("url")
    }
    out = []
    for tool in agent.get("tools") or []:
        if isinstance(tool, Mapping) and tool.get("type") == TOOLSET:
            server = servers.get(str(tool.get("mcp_server_name")))
            if server is not None:
                out.append((server, tool))
    return out


def networking_refusal(environment: Mapping[str, Any] | None, url: str) -> str | None:
    """Why the environment's networking keeps the gateway from this server (None: it does not)."""
    networking = ((environment or {}).get("config") or {}).get("networking") or {}
    if networking.get("type") != "limited" or networking.get("allow_mcp_servers"):
        return None
    host = urlsplit(url).hostname or ""
    if host_allowed(host, [str(h) for h in networking.get("allowed_hosts") or []]):
        return None
    return (
        f"the environment's networking is limited and does not allow MCP servers: set allow_mcp_servers: true or "
        f"add {host!r} to allowed_hosts to reach {url}"
    )


@dataclass
class McpToolsets:
    store: Store
    storage: StorageConfig
    timeout_s: float
    networks: Networks = ()

    async def _token(self, workspace: str, session: Record, url: str) -> str | None:
        vault_ids = [str(v) for v in session.doc.get("vault_ids") or []]
        try:
            return await token_for(self.store, self.storage, workspace, vault_ids, url)
        except SecretKeyError:  # names the setting, never the key or the token
            raise client.McpFailure(
                "authentication",
                f"the vault credential for {url} cannot be decrypted with the gateway's storage.secret_key",
            ) from None

    async def _refusal(self, environment: Record | None, url: str) -> str | None:
        return networking_refusal(environment.doc if environment else None, url) or await address_refusal(
            url, self.networks
        )

    async def offer(
        self,
        workspace: str,
        session: Record,
        agent: Mapping[str, Any],
        environment: Record | None,
        taken: Sequence[str],
        skip: Collection[str] = (),
    ) -> Offer:
        """The MCP tools to offer next (by the name the model sees), and the errors of servers that failed;
        ``skip``: servers not to list (they failed earlier in the turn)."""
        out = Offer()
        used = set(taken)
        for server, toolset in toolsets(agent):
            if server.name in skip:
                continue
            try:
                refusal = await self._refusal(environment, server.url)
                if refusal is not None:
                    raise client.McpFailure("connection", refusal)
                token = await self._token(workspace, session, server.url)
                listed = await client.list_tools(server.url, token, self.timeout_s)
            except client.McpFailure as failure:
                out.errors.append(error_event(server.name, failure))
                continue
            default = toolset.get("default_config") or {}
            configs = {c.get("name"): c for c in toolset.get("configs") or [] if isinstance(c, Mapping)}
            for tool in listed:
                config = {**default, **configs.get(tool.name, {})}
                if config.get("enabled") is False:
                    continue
                offered_as = tool.name if tool.name not in used else _NAME.sub("_", f"{server.name}__{tool.name}")
                used.add(offered_as)
                definition = {"name": offered_as, "description": tool.description, "input_schema": tool.input_schema}
                ref = McpRef(server.name, tool.name, server.url)
                out.tools[offered_as] = Offered(offered_as, "mcp", _permission(config), definition, ref)
        return out

    async def __call__(self, call: ServerCall) -> Outcome:
        server = str(call.event.get("mcp_server_name"))
        url = str(call.event.get("_mcp_url") or "")
        try:
            refusal = await self._refusal(call.environment, url)
            if refusal is not None:
                raise client.McpFailure("connection", refusal)
            token = await self._token(call.workspace, call.session, url)
            done = await client.call_tool(url, token, self.timeout_s, call.name, call.input)
        except client.McpFailure as failure:
            return Outcome.text(f"MCP server {server!r}: {failure.message}", is_error=True)
        if not done.content:
            return Outcome.text("(no output)", is_error=done.is_error)
        return Outcome(done.content, done.is_error)


def mcp_toolsets(config: RuntimeConfig, store: Store, storage: StorageConfig) -> McpToolsets:
    networks = [ipaddress.ip_network(n) for n in config.egress_allowed_networks]
    return McpToolsets(store, storage, config.mcp_timeout_s, networks)


def reported(events: Sequence[Mapping[str, Any]], since: int) -> set[str]:
    """The servers whose listing failure was already reported after event ``since`` (this turn)."""
    return {str(e.get(SERVER_MARK)) for e in events[since + 1 :] if e.get(SERVER_MARK)}
