"""The built-in toolset on cloud environments, end to end: the real SDK creates an agent, a cloud environment and a
session; the scripted fake model calls ``bash``/``write``/``read``/``edit``/``glob``/``grep``; a real gateway process
runs them in its bubblewrap sandbox, stores ``agent.tool_use`` then ``agent.tool_result``, and the model reads each
result in its next request."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest

from bench.fakes import AnthropicFake, Behavior, Text, ToolUse
from tests.gateway_process import gateway_process
from tests.runtime import scenarios
from tests.runtime.conftest import KEY, Gateway, write_config
from tests.runtime.test_scenarios import TOOLSET, _all_consumed, _say

pytestmark = pytest.mark.skipif(
    subprocess.run(["sh", "-c", "command -v bwrap"], capture_output=True).returncode != 0,
    reason="bwrap is not installed (.ci/run installs it)",
)


def _gateway(storage: dict[str, Any], tmp: Path, runtime: dict[str, Any]) -> Iterator[Gateway]:
    with AnthropicFake(name="session-model") as fake:
        config = write_config(tmp, fake, storage, runtime)
        with gateway_process(config, {}) as (proc, url):
            client = anthropic.Anthropic(base_url=url, api_key=KEY, max_retries=0, _strict_response_validation=True)
            yield Gateway(url, fake, proc, client, tmp, config)


@pytest.fixture
def cloud_gateway(sqlite: dict[str, Any], tmp_path: Path) -> Iterator[Gateway]:
    yield from _gateway(sqlite, tmp_path, {"tool_timeout_s": 20, "max_output_bytes": 2000})


@pytest.fixture
def no_executor_gateway(sqlite: dict[str, Any], tmp_path: Path) -> Iterator[Gateway]:
    yield from _gateway(sqlite, tmp_path, {"cloud_executor": "none"})


def _session(gw: Gateway, tools: list[dict[str, Any]], networking: dict[str, Any] | None = None) -> str:
    config: dict[str, Any] = {"type": "cloud", "networking": networking or {"type": "limited", "allowed_hosts": []}}
    env = gw.sdk.beta.environments.create(name=f"cloud-{time.monotonic_ns()}", config=config)  # type: ignore[arg-type]
    agent = gw.sdk.beta.agents.create(name="coder", model="claude-haiku-5-5", tools=tools)  # type: ignore[arg-type]
    return gw.sdk.beta.sessions.create(agent=agent.id, environment_id=env.id).id


def _results(gw: Gateway, session_id: str) -> list[tuple[str, bool, str]]:
    """(tool name, is_error, text) per ``agent.tool_result``, in order."""
    events = gw.events(session_id)
    names = {e.id: e.name for e in events if e.type == "agent.tool_use"}
    out = []
    for event in events:
        if event.type == "agent.tool_result":
            text = "".join(getattr(block, "text", "") for block in event.content or [])
            out.append((names[event.tool_use_id], bool(event.is_error), text))
    return out


def _seen_by_model(gw: Gateway, request: int) -> str:
    """The text of the tool results the model was sent in request number ``request``."""
    last = gw.fake.requests[request].json["messages"][-1]
    parts = [b for b in last["content"] if b.get("type") == "tool_result"]
    return "".join(c.get("text", "") for b in parts for c in b.get("content") or [])


def test_the_toolset_runs_in_the_sandbox_and_the_model_reads_each_result(cloud_gateway: Gateway) -> None:
    gw = cloud_gateway
    session_id = _session(gw, [TOOLSET])
    calls: list[dict[str, Any]] = [
        {"name": "write", "input": {"file_path": "/workspace/notes/a.txt", "content": "alpha\nbeta\n"}},
        {"name": "bash", "input": {"command": "cat notes/a.txt; cd notes; export COLOR=blue; echo gamma >> a.txt"}},
        {"name": "bash", "input": {"command": "pwd; echo $COLOR; id -u"}},
        {"name": "edit", "input": {"file_path": "notes/a.txt", "old_string": "beta", "new_string": "BETA"}},
        {"name": "read", "input": {"file_path": "/workspace/notes/a.txt", "view_range": [2, 3]}},
        {"name": "glob", "input": {"pattern": "**/*.txt"}},
        {"name": "grep", "input": {"pattern": "^gam+a$"}},
        {"name": "bash", "input": {"command": "echo failing; exit 3"}},
        {"name": "bash", "input": {"command": "yes x | head -c 5000"}},
    ]
    gw.fake.script(
        *[Behavior(content=[ToolUse(c["name"], c["input"])]) for c in calls],
        Behavior(content=[Text("all done")]),
    )
    _say(gw, session_id, "work on the notes")
    events = gw.idle(session_id, timeout=60)
    types = [e.type for e in events]
    assert "session.error" not in types, types
    results = _results(gw, session_id)
    assert [name for name, _, _ in results] == [c["name"] for c in calls]
    by_step = dict(enumerate(results))
    assert by_step[0] == ("write", False, "wrote 11 bytes to /workspace/notes/a.txt")
    assert by_step[1] == ("bash", False, "alpha\nbeta\n")
    pwd, color, uid = by_step[2][2].split()
    assert (pwd, color) == ("/workspace/notes", "blue")  # the shell's directory and exports carry over
    assert uid != "0"  # commands never run as root
    assert by_step[3] == ("edit", False, "edited notes/a.txt (1 replacement(s))")
    assert by_step[4] == ("read", False, "BETA\ngamma")
    assert by_step[5] == ("glob", False, "/workspace/notes/a.txt")
    assert by_step[6] == ("grep", False, "/workspace/notes/a.txt:3:gamma\n")
    assert by_step[7] == ("bash", True, "failing\n[exit code 3]")
    _name, is_error, text = by_step[8]
    assert not is_error and text.startswith("x\nx\n") and text.endswith("\n[output truncated: 3000 more bytes]")
    # each tool_use is followed by its result, and the model's next request carries it
    for index, (_, _, text) in enumerate(results):
        assert _seen_by_model(gw, index + 1) == text
    uses = [i for i, t in enumerate(types) if t == "agent.tool_use"]
    done = [i for i, t in enumerate(types) if t == "agent.tool_result"]
    assert all(u < r for u, r in zip(uses, done, strict=True))
    _all_consumed(gw, len(calls) + 1)

    # a second turn sees the same files (kept between turns), and the sandbox still confines the model
    gw.fake.script(
        Behavior(content=[ToolUse("bash", {"command": "cat /workspace/notes/a.txt; echo x > /etc/gw-escape"})]),
        Behavior(content=[ToolUse("read", {"file_path": "/etc/passwd"})]),
        Behavior(content=[Text("second turn done")]),
    )
    _say(gw, session_id, "again")
    gw.idle(session_id, timeout=60, count=2)
    second = _results(gw, session_id)[len(calls) :]
    assert second[0][0] == "bash" and second[0][1] is True
    assert second[0][2].startswith("alpha\nBETA\ngamma\n") and "Read-only file system" in second[0][2]
    assert second[1] == ("read", True, "read: /etc/passwd is outside the working directory /workspace")
    assert not Path("/etc/gw-escape").exists()
    workdir = gw.tmp / "sessions" / session_id / "files"
    assert (workdir / "notes" / "a.txt").read_text() == "alpha\nBETA\ngamma\n"

    gw.sdk.beta.sessions.delete(session_id)
    assert not (gw.tmp / "sessions" / session_id).exists()  # the session's files go with it


def test_the_sdk_stream_observes_the_turn(cloud_gateway: Gateway) -> None:
    gw = cloud_gateway
    session_id = _session(gw, [TOOLSET])
    gw.fake.script(
        Behavior(content=[Text("running it"), ToolUse("bash", {"command": "echo streamed"})]),
        Behavior(content=[Text("it printed streamed", chunks=2)]),
    )
    out = scenarios.run("deltas", {"base_url": gw.url, "key": KEY, "session_id": session_id, "text": "go"})
    types = out["types"]
    assert types.index("agent.tool_use") < types.index("agent.tool_result") < types.index("session.status_idle")
    assert out["final"] == "it printed streamed"
    assert _results(gw, session_id) == [("bash", False, "streamed\n")]


def test_disabled_tools_are_not_offered_and_always_ask_waits_for_a_confirmation(cloud_gateway: Gateway) -> None:
    gw = cloud_gateway
    toolset = {
        "type": "agent_toolset_20260401",
        "configs": [
            {"name": "write", "enabled": False},
            {"name": "bash", "permission_policy": {"type": "always_ask"}},
        ],
    }
    session_id = _session(gw, [toolset])
    gw.fake.script(
        Behavior(content=[ToolUse("bash", {"command": "echo confirmed"})]),
        Behavior(content=[Text("ok")]),
    )
    _say(gw, session_id, "run it")
    events = gw.idle(session_id, reason="requires_action")
    offered = {t["name"] for t in gw.fake.requests[0].json["tools"]}
    assert offered == {"bash", "read", "edit", "glob", "grep"}
    call = next(e for e in events if e.type == "agent.tool_use")
    assert call.evaluated_permission == "ask"
    assert not _results(gw, session_id)  # nothing runs before the confirmation
    gw.sdk.beta.sessions.events.send(
        session_id, events=[{"type": "user.tool_confirmation", "tool_use_id": call.id, "result": "allow"}]
    )
    gw.idle(session_id)
    assert _results(gw, session_id) == [("bash", False, "confirmed\n")]
    _all_consumed(gw, 2)


def test_without_an_executor_a_builtin_call_ends_the_turn_naming_the_setting(no_executor_gateway: Gateway) -> None:
    gw = no_executor_gateway
    session_id = _session(gw, [TOOLSET])
    gw.fake.script(Behavior(content=[ToolUse("bash", {"command": "true"})]))
    _say(gw, session_id, "run it")
    events = gw.idle(session_id)
    error = next(e for e in events if e.type == "session.error")
    assert "runtime.cloud_executor" in error.error.message
    assert not _results(gw, session_id)
