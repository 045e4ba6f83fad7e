"""Multi-agent threads (reference §4): a coordinator's model spawns a roster agent in a child thread; the child's tool
call is cross-posted to the session's stream with ``session_thread_id`` and answered there by the SDK's own
``tool_runner``; the child's answer comes back to the coordinator as the spawn call's result. A real gateway process,
the scripted fake model, both databases, anthropic 2.14.0 and the installed release."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import anthropic
import pytest

from bench.fakes import Behavior, Text, ToolUse
from tests.runtime.conftest import KEY, Gateway, Runner
from tests.runtime.test_scenarios import CURRENT_TIME, TOOLSET, _all_consumed, _say, _worker_args

COORDINATOR_SYSTEM = "You coordinate."
CLOCK_SYSTEM = "You tell the time."


def _multiagent_session(gw: Gateway) -> str:
    env = gw.sdk.beta.environments.create(name=f"env-{time.monotonic_ns()}")
    clock = gw.sdk.beta.agents.create(
        name="clock",
        description="knows the time",
        model="claude-haiku-5-5",
        system=CLOCK_SYSTEM,
        tools=[CURRENT_TIME],  # type: ignore[list-item]
    )
    coordinator = gw.sdk.beta.agents.create(
        name="coordinator",
        model="claude-sonnet-5-5",
        system=COORDINATOR_SYSTEM,
        multiagent={"type": "coordinator", "agents": [{"type": "agent", "id": clock.id}]},
    )
    return gw.sdk.beta.sessions.create(agent=coordinator.id, environment_id=env.id).id


def _text(request: dict[str, Any]) -> list[Any]:
    return [m["content"] for m in request["messages"]]


def test_a_child_thread_runs_a_roster_agent_and_its_calls_are_served_from_the_session_stream(
    runtime_gateway: Gateway, clients: Runner
) -> None:
    gw = runtime_gateway
    session_id = _multiagent_session(gw)
    gw.fake.script(
        Behavior(content=[ToolUse("spawn_agent", {"agent": "clock", "task": "What time is it?"})]),  # coordinator
        Behavior(content=[ToolUse("current_time", {})]),  # the child
        Behavior(content=[Text("It is noon.")]),  # the child's answer
        Behavior(content=[Text("The clock says noon.")]),  # the coordinator again
    )
    _say(gw, session_id, "ask the clock")
    app = clients("app_tools", {"base_url": gw.url, "key": KEY, "session_id": session_id, "max_idle": 1})
    events = gw.idle(session_id)

    # the runner saw the child's call on the session's stream, ran it and posted its result; the spawn call is the
    # gateway's own (it may be yielded as nobody's, never posted)
    posted = {c["name"]: c["posted"] for c in app["calls"]}
    assert posted.pop("current_time") is True and posted in ({}, {"spawn_agent": False})
    threads = list(gw.sdk.beta.sessions.threads.list(session_id))
    primary = next(t for t in threads if t.parent_thread_id is None)
    child = next(t for t in threads if t.parent_thread_id is not None)
    assert len(threads) == 2 and child.parent_thread_id == primary.id
    assert child.agent.name == "clock" and child.status == "terminated"

    # the session's view: the primary's events and what the child cross-posts, nothing else of the child's
    kinds = [e.type for e in events]
    assert kinds == [
        "user.message",
        "session.status_running",
        "span.model_request_start",
        "agent.tool_use",  # spawn_agent
        "span.model_request_end",
        "session.thread_created",
        "agent.thread_message_sent",
        "session.thread_status_running",
        "agent.custom_tool_use",
        "session.thread_status_idle",
        "user.custom_tool_result",
        "session.thread_status_running",
        "session.thread_status_idle",
        "session.thread_status_terminated",
        "agent.tool_result",
        "span.model_request_start",
        "agent.message",
        "span.model_request_end",
        "session.status_idle",
    ], kinds
    by_type = {e.type: e for e in events}
    call = by_type["agent.custom_tool_use"]
    assert call.session_thread_id == child.id and call.name == "current_time"
    assert by_type["user.custom_tool_result"].session_thread_id == child.id  # stored in the child thread
    assert by_type["session.thread_created"].session_thread_id == child.id
    assert by_type["session.thread_created"].agent_name == "clock"
    waiting = next(e for e in events if e.type == "session.thread_status_idle")
    assert waiting.stop_reason.type == "requires_action" and waiting.stop_reason.event_ids == [call.id]
    spawn = next(e for e in events if e.type == "agent.tool_use")
    result = by_type["agent.tool_result"]
    assert spawn.name == "spawn_agent" and result.tool_use_id == spawn.id and not result.is_error
    assert [b.text for b in result.content] == ["It is noon."]

    # the child's own view: its whole turn, with the task it was given
    own = [e.type for e in gw.sdk.beta.sessions.threads.events.list(child.id, session_id=session_id)]
    assert own[0] == "agent.thread_message_received" and "agent.message" in own
    assert own[-2:] == ["agent.thread_message_sent", "session.thread_status_terminated"]
    assert "session.thread_created" not in own and "user.message" not in own

    # what the models were sent
    first, child_1, child_2, last = (r.json for r in gw.fake.requests)
    assert [t["name"] for t in first["tools"]] == ["spawn_agent"] and first["system"] == COORDINATOR_SYSTEM
    assert first["tools"][0]["input_schema"]["properties"]["agent"]["enum"] == ["clock"]
    assert child_1["system"] == CLOCK_SYSTEM and [t["name"] for t in child_1["tools"]] == ["current_time"]
    assert child_1["model"] == "claude-haiku-5-5" and _text(child_1) == [[{"type": "text", "text": "What time is it?"}]]
    assert child_2["messages"][-1]["content"][0]["type"] == "tool_result"
    assert last["model"] == "claude-sonnet-5-5" and last["messages"][1]["content"][0]["name"] == "spawn_agent"
    assert last["messages"][-1]["content"] == [
        {
            "type": "tool_result",
            "tool_use_id": last["messages"][1]["content"][0]["id"],  # the model's own id of the spawn call
            "content": [{"type": "text", "text": "It is noon."}],
        }
    ]
    session = gw.sdk.beta.sessions.retrieve(session_id)
    assert session.status == "idle"
    assert session.usage.input_tokens == sum(e.model_usage.input_tokens for e in _all_ends(gw, session_id, child.id))
    _all_consumed(gw, 4)


def _all_ends(gw: Gateway, session_id: str, child_id: str) -> list[Any]:
    primary = [e for e in gw.events(session_id) if e.type == "span.model_request_end"]
    own = gw.sdk.beta.sessions.threads.events.list(child_id, session_id=session_id)
    return primary + [e for e in own if e.type == "span.model_request_end"]


def test_a_child_threads_sandbox_call_is_served_by_the_self_hosted_worker(
    runtime_gateway: Gateway, clients: Runner, tmp_path: Path
) -> None:
    gw = runtime_gateway
    env = gw.sdk.beta.environments.create(name=f"env-{time.monotonic_ns()}", config={"type": "self_hosted"})
    shell = gw.sdk.beta.agents.create(
        name="shell",
        model="claude-haiku-5-5",
        tools=[TOOLSET],  # type: ignore[list-item]
    )
    coordinator = gw.sdk.beta.agents.create(
        name="coordinator",
        model="claude-sonnet-5-5",
        multiagent={"type": "coordinator", "agents": [{"type": "agent", "id": shell.id}]},
    )
    session_id = gw.sdk.beta.sessions.create(agent=coordinator.id, environment_id=env.id).id
    gw.fake.script(
        Behavior(content=[ToolUse("spawn_agent", {"agent": "shell", "task": "Where are you?"})]),
        Behavior(content=[ToolUse("bash", {"command": "pwd"})]),
        Behavior(content=[Text("In the workdir.")]),
        Behavior(content=[Text("It is in the workdir.")]),
    )
    _say(gw, session_id, "ask the shell")
    workdir = tmp_path / "work"
    workdir.mkdir()
    # the worker watches the session's stream only: the child's call reaches it there
    clients(
        "worker",
        _worker_args(gw, env.id, workdir, max_idle=1, seconds=40, custom=False, session_id=session_id, until_idle=1),
    )
    events = gw.idle(session_id)
    call = next(e for e in events if e.type == "agent.tool_use" and e.name == "bash")
    result = next(e for e in events if e.type == "user.tool_result")
    assert call.session_thread_id is not None and result.tool_use_id == call.id
    assert result.session_thread_id == call.session_thread_id
    assert str(workdir) in str(gw.fake.requests[2].json["messages"][-1]["content"])  # the child saw pwd's output
    spawn_result = next(e for e in events if e.type == "agent.tool_result")
    assert [b.text for b in spawn_result.content] == ["In the workdir."]
    _all_consumed(gw, 4)


def test_an_interrupt_ends_the_child_thread_and_its_calls_take_no_answers(runtime_gateway: Gateway) -> None:
    gw = runtime_gateway
    session_id = _multiagent_session(gw)
    gw.fake.script(
        Behavior(content=[ToolUse("spawn_agent", {"agent": "clock", "task": "What time is it?"})]),
        Behavior(content=[ToolUse("current_time", {})]),  # nobody answers it
    )
    _say(gw, session_id, "ask the clock")
    events = gw.wait_for(session_id, lambda ev: any(e.type == "session.thread_status_idle" for e in ev), timeout=20)
    call = next(e for e in events if e.type == "agent.custom_tool_use")
    assert gw.sdk.beta.sessions.retrieve(session_id).status == "running"  # the coordinator waits for its child
    gw.sdk.beta.sessions.events.send(session_id, events=[{"type": "user.interrupt"}])
    events = gw.idle(session_id)
    kinds = [e.type for e in events]
    assert kinds.index("session.thread_status_terminated") < kinds.index("session.status_idle")
    child = next(t for t in gw.sdk.beta.sessions.threads.list(session_id) if t.parent_thread_id is not None)
    assert child.status == "terminated"
    with pytest.raises(anthropic.BadRequestError, match="terminated"):
        gw.sdk.beta.sessions.events.send(
            session_id,
            events=[
                {
                    "type": "user.custom_tool_result",
                    "custom_tool_use_id": call.id,
                    "content": [{"type": "text", "text": "noon"}],
                }
            ],
        )
    time.sleep(1)
    assert gw.types(session_id) == kinds  # nothing else happened
    _all_consumed(gw, 2)
