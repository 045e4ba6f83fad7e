"""Session resources the model uses, end to end with a real gateway process and the scripted fake model: memory
stores through the ``memory`` tool (stored memories, with versions, visible through the memories API) and the
agent's skills unpacked into the cloud sandbox where the system prompt says."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.fakes import Behavior, Text, ToolUse
from tests.runtime.conftest import Gateway
from tests.runtime.test_cloud_tools import _gateway
from tests.runtime.test_scenarios import TOOLSET, _all_consumed, _say

needs_bwrap = pytest.mark.skipif(
    subprocess.run(["sh", "-c", "command -v bwrap"], capture_output=True).returncode != 0,
    reason="bwrap is not installed (.ci/run installs it)",
)


@pytest.fixture
def gateway(sqlite: dict[str, Any], tmp_path: Path) -> Iterator[Gateway]:
    yield from _gateway(sqlite, tmp_path, {"tool_timeout_s": 20})


def _session(gw: Gateway, resources: list[dict[str, Any]] | None = None, **agent: Any) -> str:
    env = gw.sdk.beta.environments.create(
        name=f"res-{time.monotonic_ns()}",
        config={"type": "cloud", "networking": {"type": "limited", "allowed_hosts": []}},  # type: ignore[typeddict-item]
    )
    created = gw.sdk.beta.agents.create(name="keeper", model="claude-haiku-5-5", tools=[TOOLSET], **agent)
    return gw.sdk.beta.sessions.create(agent=created.id, environment_id=env.id, resources=resources or []).id


def _results(gw: Gateway, session_id: str) -> list[tuple[bool, str]]:
    return [
        (bool(e.is_error), "".join(getattr(b, "text", "") for b in e.content or []))
        for e in gw.events(session_id)
        if e.type == "agent.tool_result"
    ]


def _turn(gw: Gateway, session_id: str, calls: list[tuple[str, dict[str, Any]]]) -> list[tuple[bool, str]]:
    turns = sum(1 for e in gw.events(session_id) if e.type == "session.status_idle")
    gw.fake.script(*[Behavior(content=[ToolUse(n, i)]) for n, i in calls], Behavior(content=[Text("done")]))
    _say(gw, session_id, "go")
    events = gw.idle(session_id, timeout=60, count=turns + 1)
    assert "session.error" not in [e.type for e in events]
    return _results(gw, session_id)


def test_the_model_writes_then_reads_memories_kept_in_the_store_with_versions(gateway: Gateway) -> None:
    gw = gateway
    ms = gw.sdk.beta.memory_stores
    notes = ms.create(name="notes", description="what the user told us")
    prefs = ms.memories.create(notes.id, path="/prefs.md", content="drinks: tea\n")
    shared = ms.create(name="handbook")
    ms.memories.create(shared.id, path="/rules.md", content="be kind\n")
    resources = [
        {"type": "memory_store", "memory_store_id": notes.id, "instructions": "Keep the todo list current."},
        {"type": "memory_store", "memory_store_id": shared.id, "access": "read_only"},
    ]
    session_id = _session(gw, resources)
    calls: list[tuple[str, dict[str, Any]]] = [
        ("memory", {"command": "view", "path": "/memories"}),
        ("memory", {"command": "create", "path": "/memories/notes/todo.md", "file_text": "buy milk\n"}),
        (
            "memory",
            {"command": "str_replace", "path": "/memories/notes/prefs.md", "old_str": "tea", "new_str": "coffee"},
        ),
        (
            "memory",
            {"command": "insert", "path": "/memories/notes/todo.md", "insert_line": 1, "insert_text": "call mom"},
        ),
        (
            "memory",
            {"command": "rename", "old_path": "/memories/notes/todo.md", "new_path": "/memories/notes/done/todo.md"},
        ),
        ("memory", {"command": "view", "path": "/memories/notes/done/todo.md"}),
        ("memory", {"command": "create", "path": "/memories/handbook/new.md", "file_text": "x"}),
        ("memory", {"command": "create", "path": "/memories/notes/prefs.md", "file_text": "again"}),
        ("memory", {"command": "view", "path": "/etc/passwd"}),
    ]
    results = _turn(gw, session_id, calls)
    assert results == [
        (
            False,
            "Here're the files and directories up to 2 levels deep in /memories, excluding hidden items:\n"
            "-\t/memories\n-\t/memories/handbook/\n8B\t/memories/handbook/rules.md\n"
            "-\t/memories/notes/\n12B\t/memories/notes/prefs.md",
        ),
        (False, "File created successfully at: /memories/notes/todo.md"),
        (
            False,
            "The memory file has been edited. Here is the snippet showing the change (with line numbers):\n"
            "     1\tdrinks: coffee\n     2\t",
        ),
        (False, "The file /memories/notes/todo.md has been edited."),
        (False, "Successfully renamed /memories/notes/todo.md to /memories/notes/done/todo.md"),
        (
            False,
            "Here's the content of /memories/notes/done/todo.md with line numbers:\n"
            "     1\tbuy milk\n     2\tcall mom\n     3\t",
        ),
        (True, "The memory store /memories/handbook is attached read-only: /memories/handbook/new.md cannot change"),
        (True, "File /memories/notes/prefs.md already exists"),
        (True, "Path must start with /memories, got: /etc/passwd"),
    ]
    first = gw.fake.requests[0].json
    assert "memory" in {t["name"] for t in first["tools"]}
    assert first["system"] == (
        "# Memory\nYou have persistent memory through the `memory` tool. Each memory store is a directory under "
        "/memories; what you write there is kept after this session ends. View it before you start.\n"
        "- /memories/notes (read and write): what the user told us\n  Keep the todo list current.\n"
        "- /memories/handbook (read-only)"
    )
    _all_consumed(gw, len(calls) + 1)

    # what the model wrote is in the store, with a version per write made by the session
    listed = {m.path: m for m in ms.memories.list(notes.id, view="full")}
    assert {p: m.content for p, m in listed.items()} == {
        "/done/todo.md": "buy milk\ncall mom\n",
        "/prefs.md": "drinks: coffee\n",
    }
    todo_versions = list(ms.memory_versions.list(notes.id, memory_id=listed["/done/todo.md"].id, view="full"))
    assert [(v.operation, v.path, v.content) for v in reversed(todo_versions)] == [
        ("created", "/todo.md", "buy milk\n"),
        ("modified", "/todo.md", "buy milk\ncall mom\n"),
        ("modified", "/done/todo.md", "buy milk\ncall mom\n"),
    ]
    assert all(v.created_by.type == "session_actor" and v.created_by.session_id == session_id for v in todo_versions)  # type: ignore[union-attr]
    prefs_versions = list(ms.memory_versions.list(notes.id, memory_id=prefs.id))
    assert [v.operation for v in prefs_versions] == ["modified", "created"]
    assert [v.created_by.type for v in prefs_versions] == ["session_actor", "api_actor"]  # type: ignore[union-attr]
    assert [m.path for m in ms.memories.list(shared.id)] == ["/rules.md"]

    # a change made through the API meanwhile is what the next turn reads, and a delete removes the memory
    ms.memories.update(listed["/prefs.md"].id, memory_store_id=notes.id, content="drinks: water\n")
    later = _turn(
        gw,
        session_id,
        [
            ("memory", {"command": "view", "path": "/memories/notes/prefs.md"}),
            ("memory", {"command": "delete", "path": "/memories/notes/done"}),
            ("memory", {"command": "view", "path": "/memories/notes/done/todo.md"}),
            ("memory", {"command": "insert", "path": "/memories/notes/prefs.md", "insert_line": 9, "insert_text": "x"}),
            ("memory", {"command": "create", "path": "/memories/notes/two.md", "file_text": "a a"}),
            ("memory", {"command": "str_replace", "path": "/memories/notes/two.md", "old_str": "a", "new_str": "b"}),
        ],
    )[len(calls) :]
    assert later == [
        (False, "Here's the content of /memories/notes/prefs.md with line numbers:\n     1\tdrinks: water\n     2\t"),
        (False, "Successfully deleted /memories/notes/done"),
        (True, "The path /memories/notes/done/todo.md does not exist. Please provide a valid path."),
        (True, "Invalid `insert_line` parameter: 9. It should be within the range [0, 1]."),
        (False, "File created successfully at: /memories/notes/two.md"),
        (
            True,
            "No replacement was performed. Multiple occurrences of old_str `a` in lines: 1, 1. "
            "Please ensure it is unique",
        ),
    ]
    assert [m.path for m in ms.memories.list(notes.id)] == ["/prefs.md", "/two.md"]


def test_a_session_without_memory_stores_is_not_offered_the_memory_tool(gateway: Gateway) -> None:
    gw = gateway
    session_id = _session(gw)
    gw.fake.script(Behavior(content=[Text("nothing to remember")]))
    _say(gw, session_id, "hi")
    gw.idle(session_id)
    first = gw.fake.requests[0].json
    assert "memory" not in {t["name"] for t in first["tools"]} and "system" not in first


SKILL_MD = b"---\nname: greeter\ndescription: Greets people in their language.\n---\n# Greeter\nSay hello.\n"


@needs_bwrap
def test_the_agents_skills_are_unpacked_where_the_system_prompt_says(gateway: Gateway) -> None:
    gw = gateway
    files = [
        ("greeter/SKILL.md", SKILL_MD, "text/markdown"),
        ("greeter/scripts/hello.sh", b"#!/bin/sh\necho hello from the skill\n", "text/x-sh"),
    ]
    skill = gw.sdk.beta.skills.create(files=files, display_name="Greeter")
    session_id = _session(gw, system="You are helpful.", skills=[{"type": "custom", "skill_id": skill.id}])
    results = _turn(
        gw,
        session_id,
        [
            ("bash", {"command": "cat /workspace/skills/greeter/SKILL.md; sh skills/greeter/scripts/hello.sh"}),
            ("read", {"file_path": "/workspace/skills/greeter/SKILL.md"}),
        ],
    )
    assert results == [(False, SKILL_MD.decode() + "hello from the skill\n"), (False, SKILL_MD.decode())]
    assert gw.fake.requests[0].json["system"] == (
        "You are helpful.\n\n# Skills\nSkills are unpacked under /workspace/skills/. Before a task that a skill "
        "covers, read its SKILL.md and follow it; the files beside it are the skill's scripts and references.\n"
        "- /workspace/skills/greeter/SKILL.md: Greets people in their language."
    )

    # a symlink the model puts where the skills go is replaced, never followed (the gateway writes as root)
    outside = gw.tmp / "outside"
    outside.mkdir()
    later = _turn(
        gw,
        session_id,
        [
            ("bash", {"command": f"rm -rf skills/greeter && ln -s {outside} skills/greeter && echo linked"}),
            ("bash", {"command": "test -L skills/greeter && echo still-a-link || cat skills/greeter/SKILL.md"}),
        ],
    )[2:]
    assert later == [(False, "linked\n"), (False, SKILL_MD.decode())]
    assert list(outside.iterdir()) == []
