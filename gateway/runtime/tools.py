"""The tools an agent offers its model, and who answers each call.

* ``agent_toolset_20260401``: the sandbox tools ``bash``, ``read``, ``write``, ``edit``, ``glob``, ``grep`` with the
  input schemas of the SDK's ``BetaManagedAgentsAgentToolset20260401*Input`` types, minus those configured
  ``enabled: false``. Their calls become ``agent.tool_use`` events, answered by a self-hosted worker
  (``user.tool_result``) or, on ``cloud`` environments, by the gateway's executor
  (:mod:`gateway.runtime.cloud_tools`). ``web_fetch`` and ``web_search`` of the same toolset are ``server`` tools
  on every environment, answered by the gateway (:mod:`gateway.runtime.web_tools`).
* ``custom`` tools: offered as given; calls become ``agent.custom_tool_use``, answered by the client
  (``user.custom_tool_result``).
* ``mcp_toolset``: offered by :mod:`gateway.runtime.mcp.toolsets` (the tools its server lists, kind ``mcp``); calls
  become ``agent.mcp_tool_use``, answered by the gateway (``agent.mcp_tool_result``).
* ``spawn_agent`` (a ``server`` tool, :mod:`gateway.runtime.threads`): offered to the primary thread of a session
  whose agent has a multiagent roster (``coordinator`` agents, or ``multiagent_20261001`` with ``subagents``
  enabled and ``predefined_agents``); the model names a roster agent and a task, the gateway runs that agent in a
  child thread and returns its final answer as the tool result.

``evaluated_permission`` comes from the tool's ``permission_policy``: ``always_ask`` → ``ask`` (the call waits for
a ``user.tool_confirmation``), anything else → ``allow``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

TOOLSET = "agent_toolset_20260401"

_STRING: dict[str, Any] = {"type": "string"}
SANDBOX_TOOLS: dict[str, tuple[str, dict[str, Any]]] = {
    "bash": (
        "Run a shell command in the session's working directory and return its output.",
        {
            "type": "object",
            "properties": {
                "command": {**_STRING, "description": "The command to run."},
                "restart": {"type": "boolean", "description": "Restart the shell session."},
                "timeout_ms": {"type": "integer", "description": "Time limit in milliseconds."},
            },
        },
    ),
    "read": (
        "Read a file.",
        {
            "type": "object",
            "properties": {
                "file_path": _STRING,
                "view_range": {"type": "array", "items": {"type": "integer"}, "description": "[first, last] line"},
            },
            "required": ["file_path"],
        },
    ),
    "write": (
        "Write a file, replacing its content.",
        {
            "type": "object",
            "properties": {"file_path": _STRING, "content": _STRING},
            "required": ["file_path", "content"],
        },
    ),
    "edit": (
        "Replace text in a file.",
        {
            "type": "object",
            "properties": {
                "file_path": _STRING,
                "old_string": _STRING,
                "new_string": _STRING,
                "replace_all": {"type": "boolean"},
            },
            "required": ["file_path", "old_string", "new_string"],
        },
    ),
    "glob": (
        "List files matching a glob pattern.",
        {"type": "object", "properties": {"pattern": _STRING, "path": _STRING}, "required": ["pattern"]},
    ),
    "grep": (
        "Search file contents with a regular expression.",
        {"type": "object", "properties": {"pattern": _STRING, "path": _STRING}, "required": ["pattern"]},
    ),
}

#: the toolset's server tools (the SDK's toolset has no implementation of them; the gateway answers them)
WEB_TOOLS: dict[str, tuple[str, dict[str, Any]]] = {
    "web_fetch": (
        "Fetch a web page (http or https) and return its content as text.",
        {"type": "object", "properties": {"url": {**_STRING, "description": "The URL to fetch."}}, "required": ["url"]},
    ),
    "web_search": (
        "Search the web and return the results' titles and URLs.",
        {
            "type": "object",
            "properties": {"query": {**_STRING, "description": "What to search for."}},
            "required": ["query"],
        },
    ),
}

Kind = Literal["sandbox", "custom", "server", "mcp"]
SPAWN = "spawn_agent"


@dataclass(frozen=True, slots=True)
class McpRef:
    """An MCP tool: its server (the agent's ``mcp_servers`` entry) and its name there."""

    server: str
    tool: str
    url: str


@dataclass(frozen=True, slots=True)
class Offered:
    name: str
    kind: Kind
    permission: Literal["allow", "ask"]
    definition: dict[str, Any]
    mcp: McpRef | None = None


def _permission(config: Mapping[str, Any]) -> Literal["allow", "ask"]:
    policy = config.get("permission_policy") or {}
    return "ask" if isinstance(policy, Mapping) and policy.get("type") == "always_ask" else "allow"


def _toolset(tool: Mapping[str, Any]) -> list[Offered]:
    default = tool.get("default_config") or {}
    configs = {c.get("name"): c for c in tool.get("configs") or [] if isinstance(c, Mapping)}
    out = []
    tables: tuple[tuple[Kind, dict[str, tuple[str, dict[str, Any]]]], ...] = (
        ("sandbox", SANDBOX_TOOLS),
        ("server", WEB_TOOLS),
    )
    for kind, table in tables:
        for name, (description, schema) in table.items():
            config = {**default, **configs.get(name, {})}
            if config.get("enabled") is False:
                continue
            definition = {"name": name, "description": description, "input_schema": schema}
            out.append(Offered(name, kind, _permission(config), definition))
    return out


def roster(agent: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The agents a session's agent may spawn in child threads, by name (a ``self`` entry is the agent itself)."""
    multiagent = agent.get("multiagent")
    if not isinstance(multiagent, Mapping):
        return {}
    entries: list[Any] = []
    if multiagent.get("type") == "coordinator":
        entries = list(multiagent.get("agents") or [])
    elif multiagent.get("type") == "multiagent_20261001":
        subagents = multiagent.get("subagents")
        if isinstance(subagents, Mapping) and subagents.get("type") == "enabled":
            entries = list(subagents.get("predefined_agents") or [])
    out: dict[str, dict[str, Any]] = {}
    for entry in entries:
        if not isinstance(entry, Mapping):
            continue
        if entry.get("type") == "self":
            entry = {k: v for k, v in agent.items() if k != "multiagent"}
        if entry.get("type") == "agent" and entry.get("name") and (entry.get("model") or {}).get("id"):
            out[str(entry["name"])] = dict(entry)
    return out


def spawn_definition(agents: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    described = "; ".join(f"{name}: {a.get('description') or 'no description'}" for name, a in agents.items())
    return {
        "name": SPAWN,
        "description": (
            "Give a task to another agent, which works on it in its own thread and answers with its final message. "
            f"Agents: {described}"
        ),
        "input_schema": {
            "type": "object",
            "properties": {
                "agent": {"type": "string", "enum": list(agents), "description": "The agent that takes the task."},
                "task": {"type": "string", "description": "What the agent is asked to do, with all it needs."},
            },
            "required": ["agent", "task"],
        },
    }


def offered(agent_tools: Sequence[Mapping[str, Any]], agents: Mapping[str, Any] | None = None) -> dict[str, Offered]:
    """The tools the model is given, by name (a later tool with the same name replaces an earlier one); ``agents``:
    the roster a primary thread may spawn (adds ``spawn_agent``, which no agent tool can replace)."""
    out: dict[str, Offered] = {}
    for tool in agent_tools:
        if tool.get("type") == TOOLSET:
            out.update((t.name, t) for t in _toolset(tool))
        elif tool.get("type") == "custom" and isinstance(tool.get("name"), str):
            definition = {
                "name": tool["name"],
                "description": str(tool.get("description") or ""),
                "input_schema": dict(tool.get("input_schema") or {"type": "object"}),
            }
            out[tool["name"]] = Offered(tool["name"], "custom", "allow", definition)
    if agents:
        out[SPAWN] = Offered(SPAWN, "server", "allow", spawn_definition(agents))
    return out
