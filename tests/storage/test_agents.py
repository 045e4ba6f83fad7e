"""Agents + agent versions through the official SDK (strict response validation) on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest

from tests.storage.conftest import KEY_B, http, pages_of, sdk

TOOLS: list[Any] = [
    {"type": "agent_toolset_20260401", "configs": [{"name": "bash", "enabled": False}]},
    {"type": "mcp_toolset", "mcp_server_name": "docs"},
    {
        "type": "custom",
        "name": "lookup",
        "description": "Look a word up",
        "input_schema": {"type": "object", "properties": {"word": {"type": "string"}}, "required": ["word"]},
    },
]


def test_agent_lifecycle(gateway: str) -> None:
    client = sdk(gateway)
    agent = client.beta.agents.create(
        model="claude-sonnet-4-6",
        name="researcher",
        description="finds things",
        system="Be brief.",
        tools=TOOLS,
        mcp_servers=[{"type": "url", "name": "docs", "url": "https://example.com/mcp"}],
        skills=[{"type": "anthropic", "skill_id": "xlsx"}],
        metadata={"team": "a", "tier": "1"},
    )
    assert agent.id.startswith("agent_") and agent.version == 1 and agent.type == "agent"
    assert agent.model.id == "claude-sonnet-4-6"
    assert agent.execution_identity.type == "service_account"
    toolset = agent.tools[0]
    assert toolset.type == "agent_toolset_20260401"
    assert toolset.configs[0].enabled is False and toolset.default_config.enabled is True
    assert agent.skills[0].version == "latest"
    assert agent.archived_at is None

    got = client.beta.agents.retrieve(agent.id)
    assert got.model_dump() == agent.model_dump()

    # every update increments the version; metadata is a patch; null clears; past versions stay as they were
    v2 = client.beta.agents.update(agent.id, system=None, metadata={"tier": None, "new": "x"}, version=1)
    assert v2.version == 2 and v2.system is None and v2.metadata == {"team": "a", "new": "x"}
    assert v2.name == "researcher" and v2.description == "finds things"
    v3 = client.beta.agents.update(agent.id, name="researcher-2", model={"id": "claude-opus-4-6", "effort": "high"})
    assert v3.version == 3 and v3.model.id == "claude-opus-4-6" and v3.model.effort is not None
    assert v3.model.effort.type == "high"
    old = client.beta.agents.retrieve(agent.id, version=1)
    assert old.version == 1 and old.system == "Be brief." and old.name == "researcher"
    assert old.metadata == {"team": "a", "tier": "1"}
    assert client.beta.agents.retrieve(agent.id).version == 3
    with pytest.raises(anthropic.NotFoundError):
        client.beta.agents.retrieve(agent.id, version=9)
    # optimistic concurrency: a stale version is refused and changes nothing
    with pytest.raises(anthropic.ConflictError):
        client.beta.agents.update(agent.id, name="stale", version=1)
    versions = pages_of(client.beta.agents.versions.list(agent.id, limit=2))
    assert [[v.version for v in p] for p in versions] == [[3, 2], [1]]

    # pagination across >= 3 pages (limit=2, 6 agents), newest first, no duplicates
    others = [client.beta.agents.create(model="claude-haiku-4-5", name=f"a{i}") for i in range(5)]
    pages = pages_of(client.beta.agents.list(limit=2))
    assert [len(p) for p in pages] == [2, 2, 2]
    listed = [a.id for p in pages for a in p]
    assert listed == [a.id for a in reversed([agent, *others])]
    # created_at filters
    since = others[2].created_at
    recent = pages_of(client.beta.agents.list(created_at_gte=since, limit=100))
    assert {a.id for p in recent for a in p} == {o.id for o in others[2:]}
    until = pages_of(client.beta.agents.list(created_at_lte=since, limit=100))
    assert {a.id for p in until for a in p} == {agent.id, *(o.id for o in others[:3])}

    # archive: read-only, out of lists unless include_archived, still retrievable
    archived = client.beta.agents.archive(agent.id)
    assert archived.archived_at is not None and archived.version == 3
    with pytest.raises(anthropic.BadRequestError):
        client.beta.agents.update(agent.id, name="nope")
    assert agent.id not in {a.id for p in pages_of(client.beta.agents.list(limit=2)) for a in p}
    assert agent.id in {a.id for p in pages_of(client.beta.agents.list(limit=2, include_archived=True)) for a in p}
    assert client.beta.agents.retrieve(agent.id).archived_at is not None

    # agents have no delete; an unknown id is a 404
    with pytest.raises(anthropic.NotFoundError):
        client.beta.agents.retrieve("agent_011CZkZaBF1tNoB5wlCeusgy")


def test_multiagent_roster_is_resolved(gateway: str) -> None:
    client = sdk(gateway)
    worker = client.beta.agents.create(model="claude-haiku-4-5", name="worker")
    client.beta.agents.update(worker.id, description="v2")
    lead = client.beta.agents.create(
        model="claude-opus-4-6",
        name="lead",
        multiagent={"type": "coordinator", "agents": [worker.id, {"type": "self"}]},
    )
    assert lead.multiagent is not None and lead.multiagent.type == "coordinator"
    refs = [(a.type, getattr(a, "id", None), getattr(a, "version", None)) for a in lead.multiagent.agents]
    assert refs == [("agent", worker.id, 2), ("agent", lead.id, 1)]
    with pytest.raises(anthropic.NotFoundError):
        client.beta.agents.create(
            model="claude-opus-4-6", name="x", multiagent={"type": "coordinator", "agents": ["agent_missing"]}
        )


def test_agent_tenant_isolation(gateway: str) -> None:
    alice, bob = sdk(gateway), sdk(gateway, KEY_B)
    agent = alice.beta.agents.create(model="claude-haiku-4-5", name="private")
    with pytest.raises(anthropic.NotFoundError):
        bob.beta.agents.retrieve(agent.id)
    with pytest.raises(anthropic.NotFoundError):
        bob.beta.agents.update(agent.id, name="mine now")
    with pytest.raises(anthropic.NotFoundError):
        bob.beta.agents.archive(agent.id)
    with pytest.raises(anthropic.NotFoundError):
        bob.beta.agents.versions.list(agent.id)
    assert list(bob.beta.agents.list(include_archived=True).data) == []
    assert alice.beta.agents.retrieve(agent.id).name == "private"


def test_list_parameters_are_checked(gateway: str) -> None:
    with http(gateway) as client:
        # out of range is a 400, never silently clamped (issue 17)
        for limit in (10**12, 101, 0, -5):
            out_of_range = client.get("/v1/agents", params={"limit": limit})
            assert out_of_range.status_code == 400 and out_of_range.json()["error"]["type"] == "invalid_request_error"
        client.post("/v1/agents", json={"model": "claude-haiku-4-5", "name": "one"}).raise_for_status()
        # not even shaped like a cursor: 400 (the contract's pattern); shaped like one but not ours, or another
        # list's: it names no page, 404 (see the issue-4 note on why not 400)
        bad = client.get("/v1/agents", params={"page": "not-a-cursor"})
        assert bad.status_code == 400 and bad.json()["error"]["type"] == "invalid_request_error"
        forged = client.get("/v1/agents", params={"page": "page_eyJrIjoiZW52aXJvbm1lbnQ6IiwicCI6W119"})
        assert forged.status_code == 404 and forged.json()["error"]["type"] == "not_found_error"
        assert client.get("/v1/agents", params={"limit": 1}).json()["data"][0]["name"] == "one"
        # a created_at bound that is not a timestamp is a 400 (issue 17)
        when = client.get("/v1/agents", params={"created_at[gte]": "yesterday"})
        assert when.status_code == 400 and when.json()["error"]["type"] == "invalid_request_error"
        iso = client.get("/v1/agents", params={"created_at[gte]": "2000-01-01T00:00:00+02:00"})
        assert [a["name"] for a in iso.json()["data"]] == ["one"]
        assert client.get("/v1/agents/agent_nope").status_code == 404


def test_awkward_values_never_reach_the_database_as_errors(gateway: str) -> None:
    """Values PostgreSQL cannot take as text or jsonb (NUL), out-of-range integers: answers, never 500s."""
    with http(gateway) as client:
        created = client.post("/v1/agents", json={"model": "claude-haiku-4-5", "name": "a\u0000b"})
        assert created.status_code == 200
        assert client.get(f"/v1/agents/{created.json()['id']}").json()["name"] == "a\u0000b"
        assert client.get("/v1/agents/agent_%00x").status_code == 404
        assert client.post("/v1/agents/agent_%00x", json={"name": "x"}).status_code == 404
        assert client.get(f"/v1/agents/{created.json()['id']}", params={"version": 10**30}).status_code == 404
        assert client.get("/v1/agents", params={"created_at[lte]": "0001-01-01T00:00:00+05:00"}).status_code == 200
        assert client.delete("/v1/environments/env_%00").status_code == 404


def test_concurrent_updates_lose_nothing(gateway: str) -> None:
    """Parallel updates without ``version``: each one that answers 200 is exactly one new version, none is lost."""
    import threading

    with http(gateway) as client:
        agent_id = client.post("/v1/agents", json={"model": "claude-haiku-4-5", "name": "hot"}).json()["id"]
    statuses: list[int] = []

    def worker(n: int) -> None:
        with http(gateway) as client:
            for i in range(3):
                got = client.post(f"/v1/agents/{agent_id}", json={"metadata": {f"k{n}-{i}": "v"}})
                statuses.append(got.status_code)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(statuses) <= {200, 409} and statuses.count(200) >= 1
    with http(gateway) as client:
        final = client.get(f"/v1/agents/{agent_id}").json()
        versions = client.get(f"/v1/agents/{agent_id}/versions", params={"limit": 100}).json()["data"]
    ok = statuses.count(200)
    assert final["version"] == 1 + ok
    assert [v["version"] for v in versions] == list(range(1 + ok, 0, -1))
    assert len(final["metadata"]) == ok  # every acknowledged patch is in the latest version
