"""Dreams end to end: the real SDK (``client.beta.dreams``, strict response validation) against a real gateway
process whose session runtime calls the scripted fake model. The fake's replies call the memory tool, so the dream's
session rewrites the output memory store; cancel interrupts a dream whose model is still answering."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest

from bench.fakes import Behavior, Text, ToolUse
from tests.runtime.conftest import Gateway
from tests.runtime.test_cloud_tools import _gateway
from tests.runtime.test_scenarios import _say

MODEL = "claude-haiku-5-5"


@pytest.fixture
def gateway(any_database: dict[str, Any], tmp_path: Path) -> Iterator[Gateway]:
    """SQLite and PostgreSQL."""
    yield from _gateway(any_database, tmp_path, {"tool_timeout_s": 20})


def _past_session(gw: Gateway, said: str) -> str:
    """A finished session in which the user said ``said``."""
    env = gw.sdk.beta.environments.create(name=f"past-{time.monotonic_ns()}", config={"type": "cloud"})
    agent = gw.sdk.beta.agents.create(name="helper", model=MODEL)
    session_id = gw.sdk.beta.sessions.create(agent=agent.id, environment_id=env.id).id
    gw.fake.script(Behavior(content=[Text("noted")]))
    _say(gw, session_id, said)
    gw.idle(session_id)
    return session_id


def _until(gw: Gateway, dream_id: str, statuses: set[str], timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        dream = gw.sdk.beta.dreams.retrieve(dream_id)
        if dream.status in statuses or time.monotonic() > deadline:
            return dream
        time.sleep(0.2)


def test_a_dream_reads_past_sessions_and_rewrites_a_new_memory_store(gateway: Gateway) -> None:
    gw = gateway
    ms = gw.sdk.beta.memory_stores
    source = ms.create(name="prefs", description="what the user likes")
    kept = ms.memories.create(source.id, path="/drinks.md", content="drinks: tea\n")
    past = _past_session(gw, "I switched to coffee last week")
    requests_before = len(gw.fake.requests)

    gw.fake.script(
        Behavior(content=[ToolUse("memory", {"command": "view", "path": "/memories"})]),
        Behavior(
            content=[
                ToolUse(
                    "memory",
                    {
                        "command": "str_replace",
                        "path": "/memories/prefs/drinks.md",
                        "old_str": "tea",
                        "new_str": "coffee",
                    },
                )
            ]
        ),
        Behavior(content=[Text("memory consolidated")]),
    )
    dream = gw.sdk.beta.dreams.create(
        inputs=[{"type": "memory_store", "memory_store_id": source.id}, {"type": "sessions", "session_ids": [past]}],
        model=MODEL,
        instructions="Keep only current preferences.",
    )
    assert dream.type == "dream" and dream.id.startswith("dream_")
    assert dream.status in ("pending", "running", "completed")
    assert dream.model.id == MODEL and dream.output_behavior.type == "create_new"
    [output] = dream.outputs
    assert output.memory_store_id != source.id and dream.session_id

    done = _until(gw, dream.id, {"completed", "failed", "canceled"})
    assert done.status == "completed", done.error
    assert done.ended_at is not None and done.error is None
    assert done.usage.input_tokens > 0 and done.usage.output_tokens > 0

    # the model was given the past session's transcript and the instructions, and the memory tool on the output store
    first = gw.fake.requests[requests_before].json
    assert "memory" in {t["name"] for t in first["tools"]}
    told = str(first["messages"][0]["content"])
    assert "I switched to coffee last week" in told and "Keep only current preferences." in told

    # the output store holds the rewritten memory, with a version made by the dream's session; the input is unchanged
    [written] = list(ms.memories.list(output.memory_store_id, view="full"))
    assert (written.path, written.content) == ("/drinks.md", "drinks: coffee\n")
    versions = list(ms.memory_versions.list(output.memory_store_id, memory_id=written.id, view="full"))
    assert [v.operation for v in versions] == ["modified", "created"]
    assert versions[0].created_by.type == "session_actor"  # type: ignore[union-attr]
    assert versions[0].created_by.session_id == dream.session_id  # type: ignore[union-attr]
    assert ms.memories.retrieve(kept.id, memory_store_id=source.id).content == "drinks: tea\n"

    # list (with its status filter), archive
    assert [d.id for d in gw.sdk.beta.dreams.list(statuses=["completed"])] == [dream.id]
    assert list(gw.sdk.beta.dreams.list(statuses=["running"])) == []
    archived = gw.sdk.beta.dreams.archive(dream.id)
    assert archived.archived_at is not None and archived.status == "completed"
    assert list(gw.sdk.beta.dreams.list()) == []
    assert [d.id for d in gw.sdk.beta.dreams.list(include_archived=True)] == [dream.id]


def test_update_existing_writes_the_input_store_and_a_second_one_conflicts(gateway: Gateway) -> None:
    gw = gateway
    ms = gw.sdk.beta.memory_stores
    source = ms.create(name="notes")
    gw.fake.script(
        Behavior(
            content=[ToolUse("memory", {"command": "create", "path": "/memories/notes/a.md", "file_text": "x\n"})]
        ),
        Behavior(content=[Text("done")], latency_s=2.0),
    )
    inputs: Any = [{"type": "memory_store", "memory_store_id": source.id}]
    behavior: Any = {"type": "update_existing", "memory_store_id": source.id}
    dream = gw.sdk.beta.dreams.create(inputs=inputs, model=MODEL, output_behavior=behavior)
    assert [o.memory_store_id for o in dream.outputs] == [source.id]
    with pytest.raises(anthropic.ConflictError):
        gw.sdk.beta.dreams.create(inputs=inputs, model=MODEL, output_behavior=behavior)
    assert dream.session_id is not None
    gw.idle(dream.session_id, timeout=30)
    # the first dream ended without being read since: a new update_existing dream on the store is accepted
    gw.fake.script(Behavior(content=[Text("nothing to change")]))
    again = gw.sdk.beta.dreams.create(inputs=inputs, model=MODEL, output_behavior=behavior)
    assert gw.sdk.beta.dreams.retrieve(dream.id).status == "completed"
    assert _until(gw, again.id, {"completed", "failed"}).status == "completed"
    assert [m.path for m in ms.memories.list(source.id)] == ["/a.md"]


def test_a_canceled_dream_stops(gateway: Gateway) -> None:
    gw = gateway
    source = gw.sdk.beta.memory_stores.create(name="slow")
    gw.fake.script(Behavior(content=[Text("thinking")], latency_s=3.0), Behavior(content=[Text("never asked")]))
    dream = gw.sdk.beta.dreams.create(
        inputs=[{"type": "memory_store", "memory_store_id": source.id}], model={"id": MODEL, "speed": "standard"}
    )
    assert (dream.model.id, dream.model.speed) == (MODEL, "standard")
    canceled = gw.sdk.beta.dreams.cancel(dream.id)
    assert canceled.status == "canceled" and canceled.ended_at is not None
    assert dream.session_id is not None
    events = gw.wait_for(dream.session_id, lambda es: bool(es) and es[-1].type == "session.status_idle", timeout=30)
    types = [e.type for e in events]
    assert "user.interrupt" in types and types[-1] == "session.status_idle", types
    time.sleep(1.0)
    assert gw.sdk.beta.dreams.retrieve(dream.id).status == "canceled"
    assert gw.fake.pending == 1, "the canceled dream asked the model again"
    assert [d.id for d in gw.sdk.beta.dreams.list(statuses=["canceled"])] == [dream.id]


def test_client_mistakes_are_4xx(gateway: Gateway) -> None:
    gw = gateway
    dreams = gw.sdk.beta.dreams
    with pytest.raises(anthropic.NotFoundError):
        dreams.retrieve("dream_missing")
    with pytest.raises(anthropic.NotFoundError):
        dreams.create(inputs=[{"type": "memory_store", "memory_store_id": "memstore_missing"}], model=MODEL)
    with pytest.raises(anthropic.BadRequestError):
        dreams.create(inputs=[{"type": "sessions", "session_ids": []}], model=MODEL)
    source = gw.sdk.beta.memory_stores.create(name="x")
    with pytest.raises(anthropic.NotFoundError):
        dreams.create(
            inputs=[
                {"type": "memory_store", "memory_store_id": source.id},
                {"type": "sessions", "session_ids": ["sesn_missing"]},
            ],
            model=MODEL,
        )
    assert list(dreams.list()) == []
