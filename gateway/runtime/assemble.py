"""The events one completed model request produces (pure).

Per the reference's order: ``agent.thinking`` per thinking block, one ``agent.message`` per contiguous run of text
blocks (placed before the tool calls that follow it), one call event per ``tool_use`` block in the model's order,
then ``span.model_request_end`` with the usage and the runtime's annotations. A call of a tool the agent does not
offer gets an immediate error ``agent.tool_result``; a call of a tool the gateway answers itself is marked
``_server`` (the driver runs it next); a sandbox call on a ``cloud`` environment that no server tool answers ends the
turn with a ``session.error`` (see :data:`NO_EXECUTOR`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.runtime.model import Result
from gateway.runtime.previews import EVENT_PREFIX
from gateway.runtime.tools import Offered
from gateway.storage.store import new_id

NO_EXECUTOR = (
    "the model called the built-in tool {name!r}, but this gateway does not execute built-in tools on cloud "
    "environments (runtime.cloud_executor is none, or the sandbox could not start: see the gateway's start-up "
    "log); set runtime.cloud_executor, or run the session on a self_hosted environment with a worker "
    "(client.beta.environments.work.worker) to execute them"
)


@dataclass
class Assembled:
    events: list[dict[str, Any]] = field(default_factory=list)
    client_calls: int = 0  # calls a client (worker or app) must answer
    waiting: list[str] = field(default_factory=list)  # their event ids, in call order
    cloud_blocked: list[str] = field(default_factory=list)  # sandbox tools called on a cloud environment
    server_calls: int = 0  # calls the gateway answers itself once allowed (``ask`` ones wait in ``waiting``)


def _call(block: Mapping[str, Any], tool: Offered | None, start_id: str) -> dict[str, Any]:
    event: dict[str, Any] = {
        "id": new_id(EVENT_PREFIX),
        "type": "agent.custom_tool_use" if tool is not None and tool.kind == "custom" else "agent.tool_use",
        "name": str(block.get("name")),
        "input": dict(block.get("input") or {}),
        "_toolu": str(block.get("id")),
        "_step": start_id,
    }
    if tool is not None and tool.mcp is not None:
        event.update(type="agent.mcp_tool_use", name=tool.mcp.tool, mcp_server_name=tool.mcp.server)
        event["_mcp_url"] = tool.mcp.url
    if event["type"] != "agent.custom_tool_use":
        permission = tool.permission if tool is not None else "allow"
        event["evaluated_permission"] = permission
        policy = "always_ask" if permission == "ask" else "always_allow"
        event["evaluation"] = {"type": policy}
    return event


def assemble(
    result: Result,
    ids: Mapping[int, str],
    offered: Mapping[str, Offered],
    start_id: str,
    *,
    cloud: bool,
    served: Callable[[str], bool] = lambda _name: False,
) -> Assembled:
    """``served(name)``: whether the gateway answers calls of ``name`` itself in this session."""
    out = Assembled()
    text_run: dict[str, Any] | None = None
    for index, block in enumerate(result.content):
        kind = block.get("type")
        if kind == "text":
            if text_run is None:
                text_run = {"id": ids.get(index) or new_id(EVENT_PREFIX), "type": "agent.message", "content": []}
                out.events.append(text_run)
            text_run["content"].append({"type": "text", "text": str(block.get("text", ""))})
            continue
        text_run = None
        if kind in ("thinking", "redacted_thinking"):
            out.events.append({"id": ids.get(index) or new_id(EVENT_PREFIX), "type": "agent.thinking"})
        elif kind == "tool_use":
            tool = offered.get(str(block.get("name")))
            call = _call(block, tool, start_id)
            out.events.append(call)
            if tool is None:
                message = f"unknown tool {call['name']!r}: the agent offers no tool of that name"
                out.events.append(
                    {
                        "type": "agent.tool_result",
                        "tool_use_id": call["id"],
                        "is_error": True,
                        "content": [{"type": "text", "text": message}],
                    }
                )
            elif tool.kind in ("server", "mcp") or (tool.kind == "sandbox" and served(tool.name)):
                call["_server"] = True
                if tool.permission == "ask":
                    out.waiting.append(call["id"])
                else:
                    out.server_calls += 1
            elif tool.kind == "sandbox" and cloud:
                out.cloud_blocked.append(tool.name)
            else:
                out.client_calls += 1
                out.waiting.append(call["id"])
    out.events.append(
        {
            "type": "span.model_request_end",
            "model_request_start_id": start_id,
            "is_error": False,
            "model_usage": dict(result.usage),
            "_content": result.content,
            "_stop_reason": result.stop_reason,
        }
    )
    if out.cloud_blocked:
        message = NO_EXECUTOR.format(name=out.cloud_blocked[0])
        out.events.append(
            {
                "type": "session.error",
                "error": {"type": "unknown_error", "message": message, "retry_status": {"type": "terminal"}},
            }
        )
        out.events.append({"type": "session.status_idle", "stop_reason": {"type": "end_turn"}})
    return out
