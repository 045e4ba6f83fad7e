"""Sessions through the official SDK (strict response validation) on SQLite and PostgreSQL: lifecycle, bidirectional
pagination and filters, events (send / list / SSE stream / Last-Event-ID resume), resources, threads, isolation."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import anthropic
import orjson
import pytest

from gateway.storage import sessions as session_semantics
from tests.storage.conftest import KEY_B, http, running_gateway, sdk


@pytest.fixture
def gateway(database: dict[str, Any]) -> Iterator[str]:
    """These tests are about the stored resources and the event log itself, so this process stores events and runs no
    turn (``runtime.run_sessions: false``); tests/runtime runs sessions."""
    with running_gateway(database, {"runtime": {"run_sessions": False}}) as url:
        yield url


def _forward(first: Any) -> list[list[Any]]:
    pages = [list(first.data)]
    page = first
    while page.has_next_page():
        page = page.get_next_page()
        pages.append(list(page.data))
    return pages


def _ids(pages: list[list[Any]]) -> list[str]:
    return [item.id for page in pages for item in page]


def _setup(client: anthropic.Anthropic) -> tuple[Any, Any]:
    agent = client.beta.agents.create(name="helper", model="claude-sonnet-4-6", system="be brief")
    env = client.beta.environments.create(name="sandbox")
    return agent, env


def _text(text: str) -> dict[str, Any]:
    return {"type": "user.message", "content": [{"type": "text", "text": text}]}


def test_session_lifecycle(gateway: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(session_semantics, "SCAN_BATCH", 1)  # filtered lists then scan in many small rounds
    client = sdk(gateway)
    agent, env = _setup(client)
    agent_v2 = client.beta.agents.update(agent.id, version=agent.version, system="be thorough")
    other = client.beta.agents.create(name="other", model="claude-haiku-4-5")

    first = client.beta.sessions.create(
        agent=agent.id, environment_id=env.id, title="first", metadata={"team": "a", "x": "1"}
    )
    assert first.id.startswith("sesn_") and first.type == "session" and first.status == "idle"
    assert first.agent.id == agent.id and first.agent.version == 2 and first.agent.system == "be thorough"
    assert first.agent.name == "helper" and first.agent.model.id == "claude-sonnet-4-6"
    assert first.agent.execution_identity.type == "service_account"
    assert first.environment_id == env.id and first.vault_ids == [] and first.resources == []
    assert first.archived_at is None and first.outcome_evaluations == [] and first.title == "first"
    assert client.beta.sessions.retrieve(first.id).model_dump() == first.model_dump()

    pinned = client.beta.sessions.create(agent={"type": "agent", "id": agent.id, "version": 1}, environment_id=env.id)
    assert pinned.agent.version == 1 and pinned.agent.system == "be brief"
    overridden = client.beta.sessions.create(
        agent={"type": "agent_with_overrides", "id": other.id, "system": "override", "model": "claude-opus-4-8"},
        environment_id=env.id,
    )
    assert overridden.agent.id == other.id and overridden.agent.version == 1
    assert overridden.agent.system == "override" and overridden.agent.model.id == "claude-opus-4-8"
    assert client.beta.agents.retrieve(other.id).system is None  # the agent itself is unchanged
    lead = client.beta.agents.create(
        name="lead", model="claude-opus-4-6", multiagent={"type": "coordinator", "agents": [agent.id, {"type": "self"}]}
    )
    team = client.beta.sessions.create(agent=lead.id, environment_id=env.id)
    roster = team.agent.multiagent
    assert roster is not None and roster.type == "coordinator"
    assert [(a.type, a.id, a.version, a.name) for a in roster.agents] == [  # type: ignore[union-attr]
        ("agent", agent.id, 2, "helper"),
        ("agent", lead.id, 1, "lead"),
    ]
    assert roster.agents[0].system == "be thorough" and roster.agents[0].model.id == "claude-sonnet-4-6"  # type: ignore[union-attr]
    client.beta.sessions.delete(team.id)
    rest = [client.beta.sessions.create(agent=other.id, environment_id=env.id, title=f"s{i}") for i in range(3)]
    created = [first, pinned, overridden, *rest]
    assert agent_v2.version == 2

    # references: unknown → 404, archived → 400
    with pytest.raises(anthropic.NotFoundError):
        client.beta.sessions.create(agent="agent_01nope", environment_id=env.id)
    with pytest.raises(anthropic.NotFoundError):
        client.beta.sessions.create(agent={"type": "agent", "id": agent.id, "version": 9}, environment_id=env.id)
    with pytest.raises(anthropic.NotFoundError):
        client.beta.sessions.create(agent=agent.id, environment_id="env_01nope")
    with pytest.raises(anthropic.NotFoundError):
        client.beta.sessions.create(agent=agent.id, environment_id=env.id, vault_ids=["vlt_01nope"])
    with pytest.raises(anthropic.NotFoundError):
        client.beta.sessions.create(
            agent=agent.id, environment_id=env.id, resources=[{"type": "file", "file_id": "file_01nope"}]
        )
    with pytest.raises(anthropic.NotFoundError):
        client.beta.sessions.create(
            agent=agent.id, environment_id=env.id, resources=[{"type": "memory_store", "memory_store_id": "memstore_1"}]
        )
    old_env = client.beta.environments.create(name="old")
    client.beta.environments.archive(old_env.id)
    with pytest.raises(anthropic.BadRequestError):
        client.beta.sessions.create(agent=agent.id, environment_id=old_env.id)
    retired = client.beta.agents.create(name="retired", model="claude-haiku-4-5")
    client.beta.agents.archive(retired.id)
    with pytest.raises(anthropic.BadRequestError):
        client.beta.sessions.create(agent=retired.id, environment_id=env.id)

    # newest first over 3 pages of 2, then one step back with prev_page
    pages = _forward(client.beta.sessions.list(limit=2))
    assert [len(p) for p in pages] == [2, 2, 2]
    assert _ids(pages) == [s.id for s in reversed(created)]
    first_page = client.beta.sessions.list(limit=2)
    assert first_page.prev_page is None and first_page.next_page
    second = client.beta.sessions.list(limit=2, page=first_page.next_page)
    third = client.beta.sessions.list(limit=2, page=second.next_page)
    assert third.next_page is None and third.prev_page
    back = client.beta.sessions.list(limit=2, page=third.prev_page)
    assert [s.id for s in back.data] == [s.id for s in second.data]
    assert back.prev_page and back.next_page
    assert [s.id for s in client.beta.sessions.list(limit=2, page=back.prev_page).data] == [
        s.id for s in first_page.data
    ]
    # oldest first
    assert _ids(_forward(client.beta.sessions.list(limit=2, order="asc"))) == [s.id for s in created]
    with pytest.raises(anthropic.NotFoundError):  # a desc cursor is not an asc one
        client.beta.sessions.list(limit=2, order="asc", page=first_page.next_page)
    # filters
    assert {s.id for s in client.beta.sessions.list(statuses=["idle"]).data} == {s.id for s in created}
    assert client.beta.sessions.list(statuses=["running", "terminated"]).data == []
    assert [s.id for s in client.beta.sessions.list(agent_id=agent.id, order="asc").data] == [first.id, pinned.id]
    assert [s.id for s in client.beta.sessions.list(agent_id=agent.id, agent_version=1).data] == [pinned.id]
    assert len(_ids(_forward(client.beta.sessions.list(agent_id=other.id, limit=2)))) == 4
    assert _ids(_forward(client.beta.sessions.list(agent_id=agent.id, limit=1))) == [pinned.id, first.id]
    last = client.beta.sessions.list(
        agent_id=agent.id, limit=1, page=client.beta.sessions.list(agent_id=agent.id, limit=1).next_page
    )
    assert [s.id for s in last.data] == [first.id] and last.next_page is None
    assert [s.id for s in client.beta.sessions.list(agent_id=agent.id, limit=1, page=last.prev_page).data] == [
        pinned.id
    ]
    assert _ids(_forward(client.beta.sessions.list(statuses=["idle"], limit=4, order="asc"))) == [s.id for s in created]
    assert client.beta.sessions.list(created_at_gt=rest[-1].created_at).data == []
    assert [s.id for s in client.beta.sessions.list(created_at_gte=rest[-1].created_at).data] == [rest[-1].id]
    assert len(client.beta.sessions.list(created_at_lt=pinned.created_at).data) == 1
    assert client.beta.sessions.list(deployment_id="depl_01x").data == []

    # update: title, metadata patch, agent tools; vaults cannot be changed
    updated = client.beta.sessions.update(
        first.id, title="renamed", metadata={"x": None, "y": "2"}, agent={"tools": [{"type": "agent_toolset_20260401"}]}
    )
    assert updated.title == "renamed" and updated.metadata == {"team": "a", "y": "2"}
    assert updated.agent.tools[0].type == "agent_toolset_20260401" and updated.agent.version == 2
    assert updated.updated_at >= first.updated_at
    notice = client.beta.sessions.events.list(first.id).data[-1]
    assert notice.type == "session.updated" and notice.title == "renamed" and notice.metadata == {"team": "a", "y": "2"}
    assert notice.agent is not None and notice.agent.tools[0].type == "agent_toolset_20260401"
    assert notice.budget is None
    with pytest.raises(anthropic.BadRequestError):
        client.beta.sessions.update(first.id, vault_ids=[])
    with pytest.raises(anthropic.BadRequestError):  # no budget at creation: none can be added
        client.beta.sessions.update(
            first.id, budget={"type": "limit", "max_list_cost": {"amount": "5", "currency": "USD"}}
        )

    capped = client.beta.sessions.create(
        agent=other.id,
        environment_id=env.id,
        budget={"type": "limit", "max_list_cost": {"amount": "5", "currency": "USD"}},
    )
    assert capped.budget is not None and capped.budget.max_list_cost.amount == "5"
    raised = client.beta.sessions.update(
        capped.id, budget={"type": "limit", "max_list_cost": {"amount": "10", "currency": "USD"}}
    )
    assert raised.budget is not None and raised.budget.max_list_cost.amount == "10"
    assert client.beta.sessions.update(capped.id, budget=None).budget is None
    notices = client.beta.sessions.events.list(capped.id).data
    assert [e.type for e in notices] == ["session.updated", "session.updated"]
    assert notices[0].budget is not None and notices[0].budget.max_list_cost.amount == "10"
    assert notices[1].budget is None and notices[1].title is None
    with pytest.raises(anthropic.BadRequestError):  # a removed budget cannot come back
        client.beta.sessions.update(
            capped.id, budget={"type": "limit", "max_list_cost": {"amount": "1", "currency": "USD"}}
        )
    client.beta.sessions.delete(capped.id)

    # archive: read-only, hidden from lists unless asked
    archived = client.beta.sessions.archive(first.id)
    assert archived.archived_at is not None and archived.title == "renamed"
    with pytest.raises(anthropic.BadRequestError):
        client.beta.sessions.update(first.id, title="again")
    with pytest.raises(anthropic.ConflictError):  # an archived session accepts no events (409, as the API)
        client.beta.sessions.events.send(first.id, events=[_text("hello?")])
    listed = _ids(_forward(client.beta.sessions.list(limit=2)))
    assert first.id not in listed and len(listed) == 5
    assert first.id in _ids(_forward(client.beta.sessions.list(limit=2, include_archived=True)))
    assert client.beta.sessions.retrieve(first.id).archived_at is not None

    # delete: gone everywhere, with its events
    client.beta.sessions.events.send(pinned.id, events=[_text("bye")])
    deleted = client.beta.sessions.delete(pinned.id)
    assert deleted.id == pinned.id and deleted.type == "session_deleted"
    for call in (
        lambda: client.beta.sessions.retrieve(pinned.id),
        lambda: client.beta.sessions.delete(pinned.id),
        lambda: client.beta.sessions.events.list(pinned.id),
        lambda: client.beta.sessions.threads.list(pinned.id),
        lambda: client.beta.sessions.resources.list(pinned.id),
    ):
        with pytest.raises(anthropic.NotFoundError):
            call()
    assert pinned.id not in _ids(_forward(client.beta.sessions.list(include_archived=True)))


def _sse(lines: Iterator[str], count: int) -> list[tuple[str, str, dict[str, Any]]]:
    """The next ``count`` events of an open SSE response's lines as (event, id, data)."""
    out: list[tuple[str, str, dict[str, Any]]] = []
    fields: dict[str, str] = {}
    for line in lines:
        if line == "":
            if "data" in fields:
                out.append((fields.get("event", ""), fields.get("id", ""), orjson.loads(fields["data"])))
                if len(out) == count:
                    return out
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            fields[name] = value.lstrip(" ")
    return out


def test_session_events(gateway: str) -> None:
    client = sdk(gateway)
    agent, env = _setup(client)
    session = client.beta.sessions.create(
        agent=agent.id,
        environment_id=env.id,
        initial_events=[
            _text("hello"),
            {"type": "user.define_outcome", "description": "a report", "rubric": {"type": "text", "content": "ok"}},
        ],
    )
    assert [o.description for o in session.outcome_evaluations] == ["a report"]
    assert session.outcome_evaluations[0].outcome_id.startswith("outc_")
    assert session.outcome_evaluations[0].result == "pending"

    with pytest.raises(anthropic.BadRequestError):  # it names no tool call of this session: nothing is stored
        client.beta.sessions.events.send(
            session.id,
            events=[
                _text("lost"),
                {"type": "user.tool_confirmation", "tool_use_id": "toolu_1", "result": "deny", "deny_message": "no"},
            ],
        )
    sent = client.beta.sessions.events.send(session.id, events=[_text("one"), {"type": "user.interrupt"}])
    assert sent.data is not None and [e.type for e in sent.data] == ["user.message", "user.interrupt"]
    assert all(e.id.startswith("sevt_") and e.processed_at is not None for e in sent.data)

    everything = _forward(client.beta.sessions.events.list(session.id, limit=2))
    assert [len(p) for p in everything] == [2, 2]
    events = [e for p in everything for e in p]
    assert [e.type for e in events] == ["user.message", "user.define_outcome", "user.message", "user.interrupt"]
    assert [e.id for e in events[2:]] == [e.id for e in sent.data]
    assert events[1].outcome_id == session.outcome_evaluations[0].outcome_id
    newest = _forward(client.beta.sessions.events.list(session.id, limit=2, order="desc"))
    assert [e.id for p in newest for e in p] == [e.id for e in reversed(events)]
    messages = client.beta.sessions.events.list(session.id, types=["user.message"]).data
    assert [e.id for e in messages] == [events[0].id, events[2].id]
    assert client.beta.sessions.events.list(session.id, created_at_gt=events[-1].processed_at).data == []

    # SDK stream: no replay, then every event sent after connecting, in order
    received: list[Any] = []
    ready = threading.Event()

    def read() -> None:
        with client.beta.sessions.events.stream(session.id) as stream:
            ready.set()
            for event in stream:
                received.append(event)
                if len(received) == 3:
                    break

    reader = threading.Thread(target=read)
    reader.start()
    assert ready.wait(10)
    live = client.beta.sessions.events.send(session.id, events=[_text("two"), _text("three")]).data or []
    live += client.beta.sessions.events.send(session.id, events=[_text("four")]).data or []
    reader.join(15)
    assert not reader.is_alive()
    assert [e.id for e in received] == [e.id for e in live]
    assert [e.content[0].text for e in received] == ["two", "three", "four"]

    # raw SSE + Last-Event-ID: replay what followed the given event, then tail
    with http(gateway) as raw:
        headers = {"Last-Event-ID": events[2].id, "anthropic-version": "2023-06-01"}
        with raw.stream("GET", f"/v1/sessions/{session.id}/events/stream", headers=headers) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            lines = response.iter_lines()
            replay = _sse(lines, 4)
            assert [i for _, i, _ in replay] == [e.id for e in events[3:]] + [e.id for e in live]
            assert [name for name, _, _ in replay] == [
                "user.interrupt",
                "user.message",
                "user.message",
                "user.message",
            ]
            assert all(data["id"] == i and data["type"] == name for name, i, data in replay)
            late = client.beta.sessions.events.send(session.id, events=[_text("five")]).data or []
            assert [i for _, i, _ in _sse(lines, 1)] == [late[0].id]
        with raw.stream("GET", "/v1/sessions/sesn_01nope/events/stream") as response:
            assert response.status_code == 404

    # a deleted session ends its stream with session.deleted
    doomed = client.beta.sessions.create(agent=agent.id, environment_id=env.id)
    with http(gateway) as raw, raw.stream("GET", f"/v1/sessions/{doomed.id}/events/stream") as response:
        client.beta.sessions.delete(doomed.id)
        assert [name for name, _, _ in _sse(response.iter_lines(), 1)] == ["session.deleted"]

    # concurrent senders: every event stored once, positions strictly ordered
    before = len(_ids(_forward(client.beta.sessions.events.list(session.id))))

    def burst(n: int) -> None:
        mine = sdk(gateway)
        for i in range(4):
            mine.beta.sessions.events.send(session.id, events=[_text(f"{n}-{i}a"), _text(f"{n}-{i}b")])

    workers = [threading.Thread(target=burst, args=(n,)) for n in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    stored = [e for p in _forward(client.beta.sessions.events.list(session.id)) for e in p]
    assert len(stored) == before + 32 and len({e.id for e in stored}) == len(stored)
    texts = [e.content[0].text for e in stored[before:]]
    for n in range(4):  # each sender's events keep their order and each batch stays contiguous
        mine = [t for t in texts if t.startswith(f"{n}-")]
        assert mine == [f"{n}-{i}{s}" for i in range(4) for s in "ab"]
        for i in range(4):
            at = texts.index(f"{n}-{i}a")
            assert texts[at + 1] == f"{n}-{i}b"


def test_session_threads_and_resources(gateway: str) -> None:
    client = sdk(gateway)
    agent, env = _setup(client)
    store = client.beta.memory_stores.create(name="notes")
    vault = client.beta.vaults.create(display_name="keys")
    old_vault = client.beta.vaults.create(display_name="old keys")
    client.beta.vaults.archive(old_vault.id)
    with pytest.raises(anthropic.BadRequestError):  # archived vaults cannot be attached
        client.beta.sessions.create(agent=agent.id, environment_id=env.id, vault_ids=[vault.id, old_vault.id])
    session = client.beta.sessions.create(
        agent=agent.id,
        environment_id=env.id,
        vault_ids=[vault.id],
        resources=[
            {
                "type": "github_repository",
                "url": "https://github.com/acme/app.git",
                "authorization_token": "ghp_s3cr3t",
            },
            {"type": "memory_store", "memory_store_id": store.id, "access": "read_only"},
            {"type": "github_repository", "url": "https://github.com/acme/lib", "mount_path": "/src/lib"},
        ],
    )
    assert session.vault_ids == [vault.id]
    repo, memory, lib = session.resources
    assert repo.type == "github_repository" and repo.id.startswith("sesrsc_") and repo.mount_path == "/workspace/app"
    assert memory.type == "memory_store" and memory.memory_store_id == store.id and memory.access == "read_only"
    assert memory.name == "notes" and lib.mount_path == "/src/lib"
    assert [s.id for s in client.beta.sessions.list(memory_store_id=store.id).data] == [session.id]
    assert client.beta.sessions.list(memory_store_id="memstore_01other").data == []

    pages = _forward(client.beta.sessions.resources.list(session.id, limit=2))
    assert [len(p) for p in pages] == [2, 1]
    listed = [r for p in pages for r in p]
    assert [r.type for r in listed] == ["github_repository", "memory_store", "github_repository"]
    assert client.beta.sessions.resources.retrieve(repo.id, session_id=session.id).model_dump() == repo.model_dump()
    rotated = client.beta.sessions.resources.update(repo.id, session_id=session.id, authorization_token="ghp_new")
    assert rotated.id == repo.id and rotated.updated_at >= repo.updated_at
    with pytest.raises(anthropic.BadRequestError):  # only repositories carry a token
        client.beta.sessions.resources.update(memory.id, session_id=session.id, authorization_token="x")
    with pytest.raises(anthropic.NotFoundError):  # files must exist
        client.beta.sessions.resources.add(session.id, type="file", file_id="file_01nope")
    upload = client.beta.files.upload(file=("data.csv", b"a,b\n1,2\n", "text/csv"))
    added = client.beta.sessions.resources.add(session.id, type="file", file_id=upload.id)
    assert added.type == "file" and added.file_id == upload.id and added.id.startswith("sesrsc_")
    assert added.mount_path == f"/mnt/session/uploads/{upload.id}"
    custom = client.beta.sessions.resources.add(session.id, type="file", file_id=upload.id, mount_path="/data/x.csv")
    assert custom.mount_path == "/data/x.csv"
    assert [r.id for r in client.beta.sessions.retrieve(session.id).resources][-2:] == [added.id, custom.id]
    client.beta.sessions.resources.delete(custom.id, session_id=session.id)
    client.beta.sessions.resources.delete(added.id, session_id=session.id)
    gone = client.beta.sessions.resources.delete(lib.id, session_id=session.id)
    assert gone.id == lib.id and gone.type == "session_resource_deleted"
    with pytest.raises(anthropic.NotFoundError):
        client.beta.sessions.resources.retrieve(lib.id, session_id=session.id)
    after = client.beta.sessions.retrieve(session.id)
    assert [r.id for r in after.resources] == [repo.id, memory.id]
    client.beta.sessions.resources.delete(memory.id, session_id=session.id)
    assert client.beta.sessions.list(memory_store_id=store.id).data == []
    with http(gateway) as raw:  # the token is write-only
        body = raw.get(f"/v1/sessions/{session.id}").text + raw.get(f"/v1/sessions/{session.id}/resources").text
        assert "ghp_" not in body and "authorization_token" not in body

    # threads: exactly the primary thread, running the session's agent
    threads = client.beta.sessions.threads.list(session.id)
    assert len(threads.data) == 1 and threads.next_page is None
    primary = threads.data[0]
    assert primary.id.startswith("sthr_") and primary.type == "session_thread"
    assert primary.session_id == session.id and primary.parent_thread_id is None and primary.status == "idle"
    assert primary.agent.type == "agent" and primary.agent.id == agent.id
    assert client.beta.sessions.threads.retrieve(primary.id, session_id=session.id).id == primary.id
    with pytest.raises(anthropic.NotFoundError):
        client.beta.sessions.threads.retrieve("sthr_01nope", session_id=session.id)
    with pytest.raises(anthropic.BadRequestError):
        client.beta.sessions.threads.archive(primary.id, session_id=session.id)
    sent = (
        client.beta.sessions.events.send(
            session.id, events=[_text("a"), {"type": "user.interrupt", "session_thread_id": primary.id}, _text("b")]
        ).data
        or []
    )
    with pytest.raises(anthropic.NotFoundError):
        client.beta.sessions.events.send(session.id, events=[{"type": "user.interrupt", "session_thread_id": "sthr_x"}])
    thread_events = _forward(client.beta.sessions.threads.events.list(primary.id, session_id=session.id, limit=2))
    assert [e.id for p in thread_events for e in p] == [e.id for e in sent]
    with http(gateway) as raw:
        path = f"/v1/sessions/{session.id}/threads/{primary.id}/stream"
        with raw.stream("GET", path, headers={"Last-Event-ID": sent[0].id}) as response:
            assert response.status_code == 200
            assert [i for _, i, _ in _sse(response.iter_lines(), 2)] == [e.id for e in sent[1:]]

    # archived: resources are read-only too
    client.beta.sessions.archive(session.id)
    with pytest.raises(anthropic.BadRequestError):
        client.beta.sessions.resources.delete(repo.id, session_id=session.id)


def test_session_tenant_isolation(gateway: str) -> None:
    alice, bob = sdk(gateway), sdk(gateway, KEY_B)
    agent, env = _setup(alice)
    session = alice.beta.sessions.create(
        agent=agent.id,
        environment_id=env.id,
        resources=[{"type": "github_repository", "url": "https://github.com/a/b", "authorization_token": "t"}],
        initial_events=[_text("private")],
    )
    resource = session.resources[0]
    thread = alice.beta.sessions.threads.list(session.id).data[0]
    # bob cannot reference alice's agent or environment
    bob_agent, bob_env = _setup(bob)
    with pytest.raises(anthropic.NotFoundError):
        bob.beta.sessions.create(agent=agent.id, environment_id=bob_env.id)
    with pytest.raises(anthropic.NotFoundError):
        bob.beta.sessions.create(agent=bob_agent.id, environment_id=env.id)
    for call in (
        lambda: bob.beta.sessions.retrieve(session.id),
        lambda: bob.beta.sessions.update(session.id, title="mine"),
        lambda: bob.beta.sessions.archive(session.id),
        lambda: bob.beta.sessions.delete(session.id),
        lambda: bob.beta.sessions.events.list(session.id),
        lambda: bob.beta.sessions.events.send(session.id, events=[_text("hi")]),
        lambda: bob.beta.sessions.resources.list(session.id),
        lambda: bob.beta.sessions.resources.retrieve(resource.id, session_id=session.id),
        lambda: bob.beta.sessions.resources.update(resource.id, session_id=session.id, authorization_token="x"),
        lambda: bob.beta.sessions.resources.delete(resource.id, session_id=session.id),
        lambda: bob.beta.sessions.resources.add(session.id, type="file", file_id="file_01x"),
        lambda: bob.beta.sessions.threads.list(session.id),
        lambda: bob.beta.sessions.threads.retrieve(thread.id, session_id=session.id),
        lambda: bob.beta.sessions.threads.events.list(thread.id, session_id=session.id),
    ):
        with pytest.raises(anthropic.NotFoundError):
            call()
    with http(gateway, KEY_B) as raw:
        assert raw.get(f"/v1/sessions/{session.id}/events/stream").status_code == 404
    assert bob.beta.sessions.list(include_archived=True).data == []
    assert bob.beta.sessions.list(agent_id=agent.id).data == []
    mine = bob.beta.sessions.create(agent=bob_agent.id, environment_id=bob_env.id)
    assert [s.id for s in bob.beta.sessions.list().data] == [mine.id]
    # alice's session is untouched
    assert alice.beta.sessions.retrieve(session.id).title is None
    assert [e.type for e in alice.beta.sessions.events.list(session.id).data] == ["user.message"]
    assert [s.id for s in alice.beta.sessions.list().data] == [session.id]


def test_session_awkward_inputs(gateway: str) -> None:
    """Client input never produces a 500: NUL bytes, huge numbers, forged cursors, unknown Last-Event-IDs."""
    import base64

    client = sdk(gateway)
    agent, env = _setup(client)
    session = client.beta.sessions.create(
        agent=agent.id, environment_id=env.id, title="nul\x00title", metadata={"k\x00": "v\x00"}
    )
    assert client.beta.sessions.retrieve(session.id).title == "nul\x00title"
    sent = client.beta.sessions.events.send(session.id, events=[_text("zero\x00byte")]).data or []
    assert client.beta.sessions.events.list(session.id).data[0].content[0].text == "zero\x00byte"
    forged = "page_" + base64.urlsafe_b64encode(orjson.dumps({"k": "sessions:desc", "p": ["next", 1, 2]})).decode()
    forged_events = (
        "page_" + base64.urlsafe_b64encode(orjson.dumps({"k": f"events:{session.id}::asc", "p": [2**40]})).decode()
    )
    with http(gateway) as raw:
        expectations = [
            ("/v1/sessions?limit=1000000000", 400),
            ("/v1/sessions?limit=-5", 400),
            ("/v1/sessions?page=garbage", 400),
            (f"/v1/sessions?page={forged}", 404),
            (f"/v1/sessions?agent_id={agent.id}&agent_version={2**62}", 200),
            ("/v1/sessions?agent_id=agent%00x&deployment_id=d%00&memory_store_id=%25_%00", 200),
            ("/v1/sessions?created_at[gte]=yesterday&created_at[lt]=0000-00-00", 400),
            ("/v1/sessions?statuses[]=idle&statuses[]=terminated&order=asc", 200),
            ("/v1/sessions/sesn_%00", 404),
            (f"/v1/sessions/{session.id}/events?limit=99999999&order=desc", 400),
            (f"/v1/sessions/{session.id}/events?page=page_%00", 400),
            (f"/v1/sessions/{session.id}/events?page={forged_events}", 404),
            (f"/v1/sessions/{session.id}/events?created_at[gt]=x", 400),
            (f"/v1/sessions/{session.id}/resources/sesrsc_%00", 404),
            (f"/v1/sessions/{session.id}/resources?page=page_x", 404),
            (f"/v1/sessions/{session.id}/threads/sthr_%00/events", 404),
        ]
        for path, status in expectations:
            assert raw.get(path).status_code == status, path
        assert raw.get("/v1/sessions?agent_id=agent%00x").json()["data"] == []
        with raw.stream(
            "GET", f"/v1/sessions/{session.id}/events/stream", headers={"Last-Event-ID": "sevt_unknown"}
        ) as response:
            assert response.status_code == 200
            assert [i for _, i, _ in _sse(response.iter_lines(), 1)] == [sent[0].id]  # unknown: replay everything
