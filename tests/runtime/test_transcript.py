"""The pure parts of the runtime: what the log says to do next when the gateway answers a call itself.

These functions decide every step of a session (a process that takes a session over re-reads the log and must reach
the same decision), so their rules for server-run calls are tested here directly; the end-to-end behaviour is in
the scenario tests."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.errors import InvalidRequest
from gateway.runtime import transcript
from gateway.runtime.assemble import assemble
from gateway.runtime.inbox import check
from gateway.runtime.model import Result
from gateway.runtime.tools import offered

AGENT_TOOLS = [
    {
        "type": "agent_toolset_20260401",
        "configs": [{"name": "write", "permission_policy": {"type": "always_ask"}}],
    },
    {"type": "custom", "name": "current_time", "input_schema": {"type": "object"}},
]


def _step(calls: list[dict[str, Any]], start: str = "sevt_start") -> list[dict[str, Any]]:
    """The events of one completed model request that called ``calls`` (name, permission, server)."""
    tools = offered(AGENT_TOOLS)
    blocks = [{"type": "tool_use", "id": f"toolu_{i}", "name": c["name"], "input": {}} for i, c in enumerate(calls)]
    served = {c["name"] for c in calls if c.get("server")}
    done = assemble(Result(content=blocks), {}, tools, start, cloud=True, served=lambda n: n in served)
    return [{"id": start, "type": "span.model_request_start"}, *done.events]


def _log(*events: dict[str, Any]) -> transcript.Log:
    return transcript.read([{"id": e.get("id") or f"sevt_{i}", **e} for i, e in enumerate(events)])


MESSAGE = {"type": "user.message", "content": [{"type": "text", "text": "go"}]}
RUNNING = {"type": "session.status_running"}


def test_a_served_call_is_marked_and_run_by_the_gateway() -> None:
    events = _step([{"name": "bash", "server": True}])
    call = next(e for e in events if e["type"] == "agent.tool_use")
    assert call["_server"] is True
    assert not any(e["type"] == "session.error" for e in events)  # not the cloud "no executor" refusal
    action = transcript.plan(_log(MESSAGE, RUNNING, *events))
    assert isinstance(action, transcript.RunTools)
    assert [c.event_id for c in action.calls] == [call["id"]]
    assert action.running is False  # the turn is still running


def test_an_unserved_sandbox_call_on_cloud_still_ends_the_turn_with_an_error() -> None:
    events = _step([{"name": "bash"}])
    assert [e["type"] for e in events][-2:] == ["session.error", "session.status_idle"]
    assert "_server" not in next(e for e in events if e["type"] == "agent.tool_use")


def test_after_the_result_the_model_goes_on() -> None:
    events = _step([{"name": "bash", "server": True}])
    call = next(e for e in events if e["type"] == "agent.tool_use")
    result = {"type": "agent.tool_result", "tool_use_id": call["id"], "content": [{"type": "text", "text": "ok"}]}
    action = transcript.plan(_log(MESSAGE, RUNNING, *events, result))
    assert action == transcript.CallModel(running=False, attempt=0)
    messages = transcript.messages(_log(MESSAGE, RUNNING, *events, result))
    assert messages[-1]["content"] == [
        {"type": "tool_result", "tool_use_id": "toolu_0", "content": [{"type": "text", "text": "ok"}]}
    ]


def test_a_served_call_that_asks_waits_for_its_confirmation_then_runs() -> None:
    events = _step([{"name": "write", "server": True}])
    call = next(e for e in events if e["type"] == "agent.tool_use")
    assert call["evaluated_permission"] == "ask"
    action = transcript.plan(_log(MESSAGE, RUNNING, *events))
    assert action == transcript.Emit([transcript.idle("requires_action", event_ids=[call["id"]])])
    waiting = transcript.idle("requires_action", event_ids=[call["id"]])
    allow = {"type": "user.tool_confirmation", "tool_use_id": call["id"], "result": "allow"}
    action = transcript.plan(_log(MESSAGE, RUNNING, *events, waiting, allow))
    assert isinstance(action, transcript.RunTools)
    assert action.running is True  # the session was idle: it is running again
    deny = {**allow, "result": "deny"}
    action = transcript.plan(_log(MESSAGE, RUNNING, *events, waiting, deny))
    assert action == transcript.CallModel(running=True, attempt=0)  # the model reads the denial


def test_server_calls_run_before_the_session_waits_for_a_client() -> None:
    events = _step([{"name": "current_time"}, {"name": "bash", "server": True}])
    custom, bash = (e for e in events if e["type"] in transcript.CALL_TYPES)
    action = transcript.plan(_log(MESSAGE, RUNNING, *events))
    assert isinstance(action, transcript.RunTools)
    assert [c.event_id for c in action.calls] == [bash["id"]]
    result = {"type": "agent.tool_result", "tool_use_id": bash["id"], "content": [{"type": "text", "text": "/w"}]}
    action = transcript.plan(_log(MESSAGE, RUNNING, *events, result))
    assert action == transcript.Emit([transcript.idle("requires_action", event_ids=[custom["id"]])])


def test_an_interrupt_abandons_a_server_call() -> None:
    events = _step([{"name": "bash", "server": True}])
    action = transcript.plan(_log(MESSAGE, RUNNING, *events, {"type": "user.interrupt"}))
    assert action == transcript.Emit([transcript.idle("end_turn")])


def test_a_client_cannot_answer_a_call_the_gateway_answers() -> None:
    events = _step([{"name": "bash", "server": True}])
    call = next(e for e in events if e["type"] == "agent.tool_use")
    posted = {"type": "user.tool_result", "tool_use_id": call["id"], "content": [{"type": "text", "text": "x"}]}
    with pytest.raises(InvalidRequest, match="answers itself"):
        check(_log(MESSAGE, RUNNING, *events), [posted])
