"""Acceptance scenarios A1-A12 of the runtime reference (§5): a real gateway process, the model answered by the
scripted fake (every scripted reply consumed, no extra model call), and only the SDK's own helpers as clients, on
both databases and on anthropic 2.14.0 as well as the installed release."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import anthropic
import pytest

from bench.fakes import Behavior, Text, ToolUse
from tests.runtime.conftest import KEY, Gateway, Runner

TOOLSET = {"type": "agent_toolset_20260401"}
CURRENT_TIME = {
    "type": "custom",
    "name": "current_time",
    "description": "The current time (UTC).",
    "input_schema": {"type": "object", "properties": {}},
}


def _setup(gw: Gateway, *, tools: list[dict[str, Any]] | None = None, self_hosted: bool) -> tuple[str, str]:
    config = {"type": "self_hosted"} if self_hosted else None
    env = gw.sdk.beta.environments.create(name=f"env-{time.monotonic_ns()}", config=config)  # type: ignore[arg-type]
    agent = gw.sdk.beta.agents.create(name="agent", model="claude-haiku-5-5", tools=tools or [])  # type: ignore[arg-type]
    session = gw.sdk.beta.sessions.create(agent=agent.id, environment_id=env.id)
    return env.id, session.id


def _say(gw: Gateway, session_id: str, text: str) -> None:
    gw.sdk.beta.sessions.events.send(
        session_id, events=[{"type": "user.message", "content": [{"type": "text", "text": text}]}]
    )


def _user_turns(gw: Gateway, request: int) -> list[dict[str, Any]]:
    return list(gw.fake.requests[request].json["messages"])


def _all_consumed(gw: Gateway, requests: int) -> None:
    assert gw.fake.pending == 0, "a scripted model reply was never requested"
    assert len(gw.fake.requests) == requests, "the loop made a model call it did not mean to make"


def test_a1_streaming_deltas(runtime_gateway: Gateway, clients: Runner) -> None:
    gw = runtime_gateway
    _env, session_id = _setup(gw, self_hosted=False)
    gw.fake.script(Behavior(content=[Text("Waves fold on sand", chunks=3)], latency_s=1.5))
    out = clients("deltas", {"base_url": gw.url, "key": KEY, "session_id": session_id, "text": "a poem"})
    types = out["types"]
    assert types.index("event_start") < types.index("event_delta") < types.index("agent.message")
    assert types.index("agent.message") < types.index("span.model_request_end") < types.index("session.status_idle")
    assert out["final"] == "Waves fold on sand" and out["previews"][-1] == out["final"]
    assert len(out["previews"]) == 3
    stored = gw.types(session_id)
    assert "event_start" not in stored and "event_delta" not in stored  # previews are never stored
    assert stored == [
        "user.message",
        "session.status_running",
        "span.model_request_start",
        "agent.message",
        "span.model_request_end",
        "session.status_idle",
    ]
    end = next(e for e in gw.events(session_id) if e.type == "span.model_request_end")
    usage = end.model_usage
    assert usage.input_tokens > 0 and usage.output_tokens > 0
    assert usage.cache_creation_input_tokens == 0 and usage.cache_read_input_tokens == 0
    request = gw.fake.requests[0].json
    assert request["model"] == "claude-haiku-5-5" and request["stream"] is True and "tools" not in request
    assert request["messages"] == [{"role": "user", "content": [{"type": "text", "text": "a poem"}]}]
    session = gw.sdk.beta.sessions.retrieve(session_id)
    assert session.status == "idle" and session.usage.input_tokens == usage.input_tokens
    _all_consumed(gw, 1)


def test_a2_tool_runner_on_self_hosted(runtime_gateway: Gateway, clients: Runner, tmp_path: Path) -> None:
    gw = runtime_gateway
    _env, session_id = _setup(gw, tools=[TOOLSET], self_hosted=True)
    gw.fake.script(
        Behavior(content=[ToolUse("bash", {"command": "pwd"})]),
        Behavior(content=[ToolUse("bash", {"command": "ls"})]),
        Behavior(content=[Text("done")]),
    )
    workdir = tmp_path / "work"
    workdir.mkdir()
    out = clients(
        "runner",
        {
            "base_url": gw.url,
            "key": KEY,
            "session_id": session_id,
            "workdir": str(workdir),
            "text": "look",
            "max_idle": 1,
        },
    )
    calls = out["calls"]
    assert [(c["name"], c["posted"], c["is_error"]) for c in calls] == [("bash", True, False), ("bash", True, False)]
    events = gw.events(session_id)
    assert [e.type for e in events] == [
        "user.message",
        "session.status_running",
        "span.model_request_start",
        "agent.tool_use",
        "span.model_request_end",
        "session.status_idle",
        "user.tool_result",
        "session.status_running",
        "span.model_request_start",
        "agent.tool_use",
        "span.model_request_end",
        "session.status_idle",
        "user.tool_result",
        "session.status_running",
        "span.model_request_start",
        "agent.message",
        "span.model_request_end",
        "session.status_idle",
    ]
    first_call = events[3]
    assert events[5].stop_reason.type == "requires_action" and events[5].stop_reason.event_ids == [first_call.id]
    assert calls[0]["tool_use_id"] == first_call.id and events[6].tool_use_id == first_call.id
    assert events[-1].stop_reason.type == "end_turn"
    # request 2 answers the model's own toolu id, with the worker's output (the workdir path)
    last = _user_turns(gw, 1)[-1]
    toolu = gw.fake.requests[0].json and _user_turns(gw, 1)[-2]["content"][0]["id"]
    assert last["role"] == "user" and last["content"][0]["type"] == "tool_result"
    assert last["content"][0]["tool_use_id"] == toolu and toolu.startswith("toolu_")
    assert str(workdir) in str(last["content"][0]["content"])
    # the runner left about max_idle after the end of the turn
    assert out["ended_at"] - events[-1].processed_at.timestamp() < 6
    _all_consumed(gw, 3)
    gw.sdk.beta.sessions.delete(session_id)
    with pytest.raises(anthropic.NotFoundError):
        gw.sdk.beta.sessions.retrieve(session_id)


def _work(gw: Gateway, environment_id: str) -> list[Any]:
    return list(gw.sdk.beta.environments.work.list(environment_id))


def test_a3_a5_worker_serves_turns(runtime_gateway: Gateway, clients: Runner, tmp_path: Path) -> None:
    gw = runtime_gateway
    env_id, session_id = _setup(gw, tools=[TOOLSET, CURRENT_TIME], self_hosted=True)
    assert gw.sdk.beta.environments.work.stats(env_id).depth == 1  # queued on create
    gw.fake.script(
        Behavior(content=[ToolUse("current_time", {}), ToolUse("bash", {"command": "pwd"})]),
        Behavior(content=[Text("It is late in the workdir")]),
    )
    _say(gw, session_id, "what time is it, and where?")
    workdir = tmp_path / "work"
    workdir.mkdir()
    args = _worker_args(gw, env_id, workdir, max_idle=1, seconds=40, custom=True, session_id=session_id, until_idle=1)
    clients("worker", args)
    events = gw.idle(session_id)
    types = [e.type for e in events]
    assert types[:5] == [
        "user.message",
        "session.status_running",
        "span.model_request_start",
        "agent.custom_tool_use",
        "agent.tool_use",
    ]
    custom, builtin = events[3], events[4]
    idles = [e for e in events if e.type == "session.status_idle"]
    assert idles[0].stop_reason.type == "requires_action" and idles[0].stop_reason.event_ids == [custom.id, builtin.id]
    assert idles[1].stop_reason.type == "requires_action" and len(idles[1].stop_reason.event_ids) == 1
    assert idles[-1].stop_reason.type == "end_turn"
    results = [e for e in events if e.type in ("user.tool_result", "user.custom_tool_result")]
    assert len(results) == 2
    answers = _user_turns(gw, 1)[-1]["content"]  # both results in one user message, in call order
    model_ids = [b["id"] for b in _user_turns(gw, 1)[-2]["content"] if b["type"] == "tool_use"]
    assert [b["tool_use_id"] for b in answers] == model_ids
    assert "2026-12-04T12:00:00Z" in str(answers[0]) and str(workdir) in str(answers[1])
    assert [(w.state, w.data.id) for w in _work(gw, env_id)] == [("stopped", session_id)]
    _all_consumed(gw, 2)

    # A5: a second turn after the worker left queues a new item
    gw.fake.script(Behavior(content=[ToolUse("bash", {"command": "echo hi"})]), Behavior(content=[Text("ok")]))
    _say(gw, session_id, "again")
    items = _work(gw, env_id)
    assert len(items) == 2 and {w.state for w in items} == {"stopped", "queued"}
    clients("worker", {**args, "until_idle": 2})
    gw.idle(session_id, count=2)
    items = _work(gw, env_id)
    assert len({w.id for w in items}) == 2 and {w.state for w in items} == {"stopped"}
    assert sum(e.type == "user.tool_result" for e in gw.events(session_id)) == 2
    _all_consumed(gw, 4)


def _worker_args(gw: Gateway, env_id: str, workdir: Path, **options: Any) -> dict[str, Any]:
    """Arguments of the ``worker`` scenario: the environment's own minted key, ``workdir``, and ``options``."""
    return {
        "base_url": gw.url,
        "key": KEY,
        "environment_id": env_id,
        "environment_key": gw.environment_key(env_id),
        "workdir": str(workdir),
        **options,
    }


def _in_background(run: Runner, name: str, arguments: dict[str, Any]) -> threading.Thread:
    thread = threading.Thread(target=run, args=(name, arguments), daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("verdict", ["allow", "deny"])
def test_a7_confirmation_gate(runtime_gateway: Gateway, clients: Runner, tmp_path: Path, verdict: str) -> None:
    gw = runtime_gateway
    ask = {**TOOLSET, "configs": [{"name": "bash", "permission_policy": {"type": "always_ask"}}]}
    env_id, session_id = _setup(gw, tools=[ask], self_hosted=True)
    gw.fake.script(Behavior(content=[ToolUse("bash", {"command": "pwd"})]), Behavior(content=[Text("ok")]))
    workdir = tmp_path / "work"
    workdir.mkdir()
    worker = _in_background(
        clients,
        "worker",
        _worker_args(gw, env_id, workdir, max_idle=1, seconds=40, custom=False, session_id=session_id, until_idle=1),
    )
    _say(gw, session_id, "run pwd")
    events = gw.idle(session_id, "requires_action")
    call = next(e for e in events if e.type == "agent.tool_use")
    assert call.evaluated_permission == "ask"
    time.sleep(1.5)  # the worker is attached: nothing runs before the verdict
    assert not any(e.type == "user.tool_result" for e in gw.events(session_id))
    confirmation: dict[str, Any] = {"type": "user.tool_confirmation", "tool_use_id": call.id, "result": verdict}
    if verdict == "deny":
        confirmation["deny_message"] = "not on my machine"
    gw.sdk.beta.sessions.events.send(session_id, events=[confirmation])  # type: ignore[list-item]
    events = gw.idle(session_id)
    worker.join(30)
    results = [e for e in events if e.type == "user.tool_result"]
    answer = _user_turns(gw, 1)[-1]["content"][0]
    if verdict == "allow":
        assert len(results) == 1 and str(workdir) in str(answer["content"])
    else:
        assert results == [] and answer["is_error"] is True and answer["content"] == "not on my machine"
    with pytest.raises(anthropic.BadRequestError):  # a second verdict for the same call
        gw.sdk.beta.sessions.events.send(session_id, events=[confirmation])  # type: ignore[list-item]
    _all_consumed(gw, 2)


@pytest.mark.parametrize("how", ["delete", "archive"])
def test_a9_close_while_served(runtime_gateway: Gateway, clients: Runner, tmp_path: Path, how: str) -> None:
    gw = runtime_gateway
    nobody = {**CURRENT_TIME, "name": "launch"}
    env_id, session_id = _setup(gw, tools=[TOOLSET, nobody], self_hosted=True)
    gw.fake.script(Behavior(content=[ToolUse("launch", {})]))
    workdir = tmp_path / "work"
    workdir.mkdir()
    started = time.monotonic()
    worker = _in_background(
        clients,
        "worker",
        _worker_args(gw, env_id, workdir, max_idle=30, seconds=12, custom=False),
    )
    _say(gw, session_id, "launch")
    gw.idle(session_id, "requires_action")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _work(gw, env_id)[0].state != "active":
        time.sleep(0.2)
    assert _work(gw, env_id)[0].state == "active"
    if how == "delete":
        gw.sdk.beta.sessions.delete(session_id)
    else:
        gw.sdk.beta.sessions.archive(session_id)
        assert gw.sdk.beta.sessions.retrieve(session_id).status == "terminated"
        assert gw.types(session_id)[-1] == "session.status_terminated"
        with pytest.raises(anthropic.ConflictError):
            _say(gw, session_id, "still there?")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _work(gw, env_id)[0].state != "stopped":
        time.sleep(0.2)
    assert _work(gw, env_id)[0].state == "stopped"  # the worker let go long before its 30 s max_idle
    assert time.monotonic() - started < 25
    worker.join(20)
    _all_consumed(gw, 1)


def test_a10_model_failure_is_retried(runtime_gateway: Gateway) -> None:
    gw = runtime_gateway
    _env, session_id = _setup(gw, self_hosted=False)
    gw.fake.script(Behavior(status=529), Behavior(content=[Text("ok")]))
    _say(gw, session_id, "hi")
    events = gw.idle(session_id)
    types = [e.type for e in events]
    error = next(e for e in events if e.type == "session.error")
    assert error.error.type == "model_overloaded_error" and error.error.retry_status.type == "retrying"
    at = types.index("session.error")
    assert types[at - 1] == "span.model_request_end" and events[at - 1].is_error is True
    assert types[at + 1 : at + 4] == [
        "session.status_rescheduled",
        "session.status_running",
        "span.model_request_start",
    ]
    assert types[-3:] == ["agent.message", "span.model_request_end", "session.status_idle"]
    _all_consumed(gw, 2)

    gw.fake.script(*[Behavior(status=529)] * 4)  # max_model_retries (3) + 1 attempts, all overloaded
    _say(gw, session_id, "again")
    events = gw.idle(session_id, "retries_exhausted")
    errors = [e.error.retry_status.type for e in events if e.type == "session.error"]
    assert errors == ["retrying", "retrying", "retrying", "retrying", "exhausted"]
    assert gw.sdk.beta.sessions.retrieve(session_id).status == "idle"
    _all_consumed(gw, 6)


def test_a12_interrupt(runtime_gateway: Gateway) -> None:
    gw = runtime_gateway
    _env, session_id = _setup(gw, self_hosted=False)
    gw.fake.script(Behavior(content=[Text("too late")], latency_s=3))
    _say(gw, session_id, "think long")
    gw.wait_for(session_id, lambda ev: any(e.type == "span.model_request_start" for e in ev), 10)
    gw.sdk.beta.sessions.events.send(session_id, events=[{"type": "user.interrupt"}])
    started = time.monotonic()
    events = gw.idle(session_id)
    assert time.monotonic() - started < 2.5  # the request was aborted, not waited for
    types = [e.type for e in events]
    assert "agent.message" not in types
    end = next(e for e in events if e.type == "span.model_request_end")
    assert end.is_error is True and types[-1] == "session.status_idle"
    time.sleep(3.5)  # the aborted reply would have arrived by now: nothing more happens
    assert gw.types(session_id) == types
    _all_consumed(gw, 1)


def test_a11_deployment_run(runtime_gateway: Gateway) -> None:
    gw = runtime_gateway
    env = gw.sdk.beta.environments.create(name="deploy-env")
    agent = gw.sdk.beta.agents.create(name="agent", model="claude-haiku-5-5")
    deployment = gw.sdk.beta.deployments.create(
        name="nightly",
        agent=agent.id,
        environment_id=env.id,
        initial_events=[{"type": "user.message", "content": [{"type": "text", "text": "report"}]}],
    )
    gw.fake.script(Behavior(content=[Text("hi")]))
    run = gw.sdk.beta.deployments.run(deployment.id)
    assert run.type == "deployment_run" and run.trigger_context.type == "manual" and run.error is None
    assert run.session_id is not None
    events = gw.idle(run.session_id)
    assert [e.type for e in events][-3:] == ["agent.message", "span.model_request_end", "session.status_idle"]
    assert [r.id for r in gw.sdk.beta.deployment_runs.list(deployment_id=deployment.id)] == [run.id]
    assert [s.id for s in gw.sdk.beta.sessions.list(deployment_id=deployment.id)] == [run.session_id]
    _all_consumed(gw, 1)


def test_a6_lease_expiry_hands_the_item_out_again(runtime_gateway: Gateway, clients: Runner, tmp_path: Path) -> None:
    gw = runtime_gateway
    env_id, session_id = _setup(gw, tools=[TOOLSET], self_hosted=True)
    gw.fake.script(Behavior(content=[ToolUse("bash", {"command": "pwd"})]), Behavior(content=[Text("ok")]))
    _say(gw, session_id, "where?")
    gw.idle(session_id, "requires_action")
    workdir = tmp_path / "work"
    workdir.mkdir()
    env_key = gw.environment_key(env_id)
    out = clients(
        "crash_then_worker",
        {
            "base_url": gw.url,
            "key": KEY,
            "environment_id": env_id,
            "environment_key": env_key,
            "workdir": str(workdir),
            "session_id": session_id,
        },
    )
    assert out["stale"]["status"] == 412
    details = out["stale"]["error"]["details"]
    assert details["error_code"] == "heartbeat_precondition_failed"
    assert details["current_state"]["state"] == "active" and details["current_state"]["lease_extended"] is False
    events = gw.idle(session_id)
    assert sum(e.type == "user.tool_result" for e in events) == 1  # the tool ran exactly once
    items = _work(gw, env_id)
    assert [w.id for w in items] == [out["claimed"]] and items[0].state == "stopped"  # the same item, reclaimed
    _all_consumed(gw, 2)


def test_a8_split_client(runtime_gateway: Gateway, clients: Runner, tmp_path: Path) -> None:
    gw = runtime_gateway
    env_id, session_id = _setup(gw, tools=[TOOLSET, CURRENT_TIME], self_hosted=True)
    gw.fake.script(
        Behavior(content=[ToolUse("current_time", {}), ToolUse("bash", {"command": "pwd"})]),
        Behavior(content=[Text("done")]),
    )
    workdir = tmp_path / "work"
    workdir.mkdir()
    worker = _in_background(
        clients,
        "worker",
        # the worker owns the agent toolset only (custom=False)
        _worker_args(gw, env_id, workdir, max_idle=1, seconds=40, custom=False, session_id=session_id, until_idle=1),
    )
    _say(gw, session_id, "time and place")
    app = clients("app_tools", {"base_url": gw.url, "key": KEY, "session_id": session_id, "max_idle": 1})
    worker.join(45)
    by_name = {c["name"]: c for c in app["calls"]}
    assert by_name["current_time"]["posted"] is True
    # the worker's call is never run or posted by the app (it is yielded unposted, or not at all when the worker had
    # already answered it by the time the app runner looked)
    assert "bash" not in by_name or (by_name["bash"]["posted"] is False and by_name["bash"]["content"] is None)
    events = gw.idle(session_id)
    kinds = [e.type for e in events]
    assert kinds.count("user.custom_tool_result") == 1 and kinds.count("user.tool_result") == 1
    idles = [e.stop_reason for e in events if e.type == "session.status_idle"]
    assert [r.type for r in idles] == ["requires_action", "requires_action", "end_turn"]
    assert len(idles[1].event_ids) == 1  # the model resumed only after both results
    _all_consumed(gw, 2)
