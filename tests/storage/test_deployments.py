"""Deployments and deployment runs through the official SDK (strict response validation) on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anthropic
import pytest
import yaml

from tests.gateway_process import gateway_process
from tests.storage.conftest import KEY_A, KEY_B, http, pages_of, sdk

EVENTS: list[Any] = [{"type": "user.message", "content": [{"type": "text", "text": "run the nightly report"}]}]
SCHEDULE: Any = {"type": "cron", "expression": "0 9 * * 1-5", "timezone": "America/Los_Angeles"}


def _refs(client: anthropic.Anthropic) -> tuple[Any, Any]:
    agent = client.beta.agents.create(name="reporter", model="claude-sonnet-4-6")
    env = client.beta.environments.create(name="sandbox")
    return agent, env


def test_deployment_lifecycle(gateway: str) -> None:
    client = sdk(gateway)
    agent, env = _refs(client)
    dep = client.beta.deployments.create(
        name="nightly",
        agent=agent.id,
        environment_id=env.id,
        initial_events=EVENTS,
        schedule=SCHEDULE,
        metadata={"team": "a"},
        resources=[{"type": "github_repository", "url": "https://github.com/o/r", "authorization_token": "ghp_SECRET"}],
    )
    assert dep.id.startswith("depl_01") and dep.type == "deployment"
    assert (dep.agent.type, dep.agent.id, dep.agent.version) == ("agent", agent.id, 1)
    assert dep.environment_id == env.id and dep.vault_ids == [] and dep.metadata == {"team": "a"}
    assert dep.status == "active" and dep.paused_reason is None and dep.archived_at is None
    assert dep.initial_events[0].type == "user.message"
    assert dep.resources[0].type == "github_repository" and dep.resources[0].url == "https://github.com/o/r"
    assert "ghp_SECRET" not in http(gateway).get(f"/v1/deployments/{dep.id}").text  # write-only, never echoed
    assert dep.schedule is not None and dep.schedule.expression == "0 9 * * 1-5" and dep.schedule.last_run_at is None
    upcoming = dep.schedule.upcoming_runs_at or []
    assert len(upcoming) == 5 and upcoming == sorted(upcoming) and upcoming[0] > datetime.now(UTC)
    assert all(t.astimezone(UTC).hour in (16, 17) and t.minute == 0 and t.weekday() < 5 for t in upcoming)
    assert client.beta.deployments.retrieve(dep.id).model_dump() == dep.model_dump()

    # references must exist (404) and the schedule must be valid (400)
    for bad in (
        {"agent": "agent_01missing"},
        {"environment_id": "env_01missing"},
        {"vault_ids": ["vlt_01missing"]},
        {"agent": {"type": "agent", "id": agent.id, "version": 7}},
    ):
        args = {"name": "x", "agent": agent.id, "environment_id": env.id, "initial_events": EVENTS, **bad}
        with pytest.raises(anthropic.NotFoundError):
            client.beta.deployments.create(**args)
    bad_schedules: list[Any] = [{**SCHEDULE, "expression": "61 * * * *"}, {**SCHEDULE, "timezone": "Mars/Olympus"}]
    for schedule in bad_schedules:
        with pytest.raises(anthropic.BadRequestError):
            client.beta.deployments.create(
                name="x", agent=agent.id, environment_id=env.id, initial_events=EVENTS, schedule=schedule
            )

    # update: a new agent version is re-pinned by id; explicit versions pin; metadata patches; null clears
    client.beta.agents.update(agent.id, version=1, system="be brief")
    updated = client.beta.deployments.update(
        dep.id, agent=agent.id, metadata={"team": None, "tier": "gold"}, description="nightly run", schedule=None
    )
    assert updated.agent.version == 2 and updated.metadata == {"tier": "gold"} and updated.schedule is None
    assert updated.description == "nightly run" and updated.name == "nightly" and updated.updated_at >= dep.updated_at
    pinned = client.beta.deployments.update(dep.id, agent={"type": "agent", "id": agent.id, "version": 1})
    assert pinned.agent.version == 1 and pinned.description == "nightly run"
    cleared = client.beta.deployments.update(dep.id, description="", resources=None)
    assert cleared.description is None and cleared.resources == []

    paused = client.beta.deployments.pause(dep.id)
    assert paused.status == "paused" and paused.paused_reason is not None and paused.paused_reason.type == "manual"
    assert client.beta.deployments.pause(dep.id).status == "paused"  # idempotent
    run = client.beta.deployments.run(dep.id)  # manual runs are allowed while paused
    assert run.id.startswith("drun_01") and run.type == "deployment_run" and run.deployment_id == dep.id
    assert run.trigger_context.type == "manual" and run.session_id is not None and run.error is None
    assert (run.agent.id, run.agent.version) == (agent.id, 1)
    session = client.beta.sessions.retrieve(run.session_id)  # the pinned version, not the agent's latest (2)
    assert session.deployment_id == dep.id and (session.agent.id, session.agent.version) == (agent.id, 1)
    assert client.beta.deployments.retrieve(dep.id).status == "paused"  # a manual run leaves the status alone
    active = client.beta.deployments.unpause(dep.id)
    assert active.status == "active" and active.paused_reason is None

    more = [
        client.beta.deployments.create(name=f"d\x00{i}", agent=agent.id, environment_id=env.id, initial_events=EVENTS)
        for i in range(5)
    ]  # (a NUL in a document must not break the filtered lists on PostgreSQL)
    assert more[0].name == "d\x000"
    client.beta.deployments.pause(more[0].id)
    pages = pages_of(client.beta.deployments.list(limit=2))
    assert [len(p) for p in pages] == [2, 2, 2]
    assert [d.id for p in pages for d in p] == [d.id for d in reversed([dep, *more])]
    assert [d.id for d in client.beta.deployments.list(status="paused")] == [more[0].id]
    assert len(list(client.beta.deployments.list(status="active"))) == 5
    assert list(client.beta.deployments.list(agent_id="agent_01other")) == []
    assert len(list(client.beta.deployments.list(agent_id=agent.id))) == 6
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert list(client.beta.deployments.list(created_at_gte=later)) == []

    archived = client.beta.deployments.archive(dep.id)
    assert archived.archived_at is not None and archived.status == "active"
    assert archived.schedule is None
    for call in (
        lambda: client.beta.deployments.update(dep.id, name="again"),
        lambda: client.beta.deployments.pause(dep.id),
        lambda: client.beta.deployments.unpause(dep.id),
        lambda: client.beta.deployments.run(dep.id),
    ):
        with pytest.raises(anthropic.BadRequestError):
            call()
    assert dep.id not in {d.id for d in client.beta.deployments.list()}
    assert dep.id in {d.id for d in client.beta.deployments.list(include_archived=True)}
    assert client.beta.deployments.retrieve(dep.id).archived_at == archived.archived_at
    with pytest.raises(anthropic.NotFoundError):
        client.beta.deployments.retrieve("depl_01missing")
    with pytest.raises(anthropic.NotFoundError):
        client.beta.deployments.list(page="page_garbage")

    # an archived deployment keeps an archived schedule's fields but no upcoming runs
    scheduled = client.beta.deployments.create(
        name="s", agent=agent.id, environment_id=env.id, initial_events=EVENTS, schedule=SCHEDULE
    )
    gone = client.beta.deployments.archive(scheduled.id)
    assert gone.schedule is not None and gone.schedule.upcoming_runs_at == []
    # an archived agent or environment cannot be deployed
    client.beta.agents.archive(agent.id)
    with pytest.raises(anthropic.BadRequestError):
        client.beta.deployments.create(name="x", agent=agent.id, environment_id=env.id, initial_events=EVENTS)


def test_deployment_runs(gateway: str) -> None:
    client = sdk(gateway)
    agent, env = _refs(client)
    first = client.beta.deployments.create(name="a", agent=agent.id, environment_id=env.id, initial_events=EVENTS)
    second = client.beta.deployments.create(name="b", agent=agent.id, environment_id=env.id, initial_events=EVENTS)
    runs = [client.beta.deployments.run(first.id) for _ in range(4)] + [client.beta.deployments.run(second.id)]
    assert len({r.id for r in runs}) == 5
    assert client.beta.deployment_runs.retrieve(runs[0].id).model_dump() == runs[0].model_dump()

    pages = pages_of(client.beta.deployment_runs.list(limit=2))
    assert [len(p) for p in pages] == [2, 2, 1]
    assert [r.id for p in pages for r in p] == [r.id for r in reversed(runs)]
    by_first = pages_of(client.beta.deployment_runs.list(deployment_id=first.id, limit=2))
    assert [len(p) for p in by_first] == [2, 2]
    assert [r.id for p in by_first for r in p] == [r.id for r in reversed(runs[:4])]
    assert list(client.beta.deployment_runs.list(deployment_id="depl_01unknown")) == []  # 200, empty
    assert len(list(client.beta.deployment_runs.list(has_error=False))) == 5  # every run started a session
    assert list(client.beta.deployment_runs.list(has_error=True)) == []
    assert {s.id for s in client.beta.sessions.list(deployment_id=first.id)} == {r.session_id for r in runs[:4]}
    assert list(client.beta.deployment_runs.list(trigger_type="schedule")) == []
    assert len(list(client.beta.deployment_runs.list(trigger_type="manual"))) == 5
    assert [r.id for r in client.beta.deployment_runs.list(created_at_gt=runs[3].created_at)] == [runs[4].id]
    assert [r.id for r in client.beta.deployment_runs.list(created_at_lt=runs[1].created_at)] == [runs[0].id]
    with pytest.raises(anthropic.BadRequestError):  # not a timestamp: 400, not a silently empty list (issue 17)
        client.beta.deployment_runs.list(created_at_gte="not a time")
    with pytest.raises(anthropic.NotFoundError):  # a cursor of another list names no page
        client.beta.deployment_runs.list(page=str(client.beta.deployments.list(limit=1).next_page))

    # the run record names what went wrong when a reference went bad
    client.beta.environments.archive(env.id)
    bad = client.beta.deployments.run(first.id)
    assert bad.error is not None and bad.error.type == "environment_archived_error" and bad.session_id is None
    assert [r.id for r in client.beta.deployment_runs.list(has_error=True)] == [bad.id]
    assert client.beta.deployments.retrieve(first.id).status == "active"  # only a failed scheduled run pauses
    with pytest.raises(anthropic.NotFoundError):
        client.beta.deployment_runs.retrieve("drun_01missing")


def test_deployment_tenant_isolation(gateway: str) -> None:
    client, other = sdk(gateway), sdk(gateway, KEY_B)
    agent, env = _refs(client)
    dep = client.beta.deployments.create(name="mine", agent=agent.id, environment_id=env.id, initial_events=EVENTS)
    run = client.beta.deployments.run(dep.id)
    for call in (
        lambda: other.beta.deployments.retrieve(dep.id),
        lambda: other.beta.deployments.update(dep.id, name="theirs"),
        lambda: other.beta.deployments.archive(dep.id),
        lambda: other.beta.deployments.pause(dep.id),
        lambda: other.beta.deployments.unpause(dep.id),
        lambda: other.beta.deployments.run(dep.id),
        lambda: other.beta.deployment_runs.retrieve(run.id),
        # another workspace's agent / environment cannot be referenced
        lambda: other.beta.deployments.create(name="x", agent=agent.id, environment_id=env.id, initial_events=EVENTS),
    ):
        with pytest.raises(anthropic.NotFoundError):
            call()
    assert list(other.beta.deployments.list(include_archived=True)) == []
    assert list(other.beta.deployment_runs.list()) == []
    assert list(other.beta.deployment_runs.list(deployment_id=dep.id)) == []
    mine = client.beta.deployments.retrieve(dep.id)
    assert mine.name == "mine" and mine.status == "active" and mine.archived_at is None
    assert [r.id for r in client.beta.deployment_runs.list()] == [run.id]


def test_deployment_run_on_a_gateway_process(database: dict[str, Any], tmp_path: Path) -> None:
    """Scenario A11 up to the model turn (which the session runtime runs): ``deployments.run`` through the SDK against
    a ``litellm-gateway serve`` process (its deployment scheduler running) creates the session with the deployment's
    initial events, and both lists find it by deployment."""
    config = tmp_path / "config.yaml"
    doc = {
        "gateway": {
            "api_keys": [{"key": "os.environ/GW_DEPLOY_KEY", "name": "a", "workspace": "team-a"}],
            "validate_responses": True,
        },
        "storage": database,
        "runtime": {"scheduler_tick_seconds": 0.2},
    }
    config.write_text(yaml.safe_dump(doc), encoding="utf-8")
    with gateway_process(config, {"GW_DEPLOY_KEY": KEY_A}) as (proc, url):
        client = sdk(url)
        agent, env = _refs(client)
        dep = client.beta.deployments.create(
            name="a11", agent=agent.id, environment_id=env.id, initial_events=EVENTS, metadata={"job": "report"}
        )
        run = client.beta.deployments.run(dep.id)
        assert run.type == "deployment_run" and run.trigger_context.type == "manual" and run.deployment_id == dep.id
        assert run.session_id is not None and run.error is None
        assert (run.agent.type, run.agent.id, run.agent.version) == ("agent", agent.id, 1)
        session = client.beta.sessions.retrieve(run.session_id)
        assert session.deployment_id == dep.id and session.environment_id == env.id
        assert session.metadata == {"job": "report"} and session.agent.id == agent.id
        stored = [e for e in client.beta.sessions.events.list(run.session_id) if e.type == "user.message"]
        assert [[b.model_dump() for b in e.content] for e in stored] == [
            [{"type": "text", "text": "run the nightly report"}]
        ]
        assert [r.id for r in client.beta.deployment_runs.list(deployment_id=dep.id)] == [run.id]
        assert [s.id for s in client.beta.sessions.list(deployment_id=dep.id)] == [run.session_id]
        assert client.beta.deployment_runs.retrieve(run.id).model_dump() == run.model_dump()
    log = proc.stdout.read().decode() if proc.stdout else ""
    # nothing went wrong in the scheduler or the runs (the session's own turn belongs to the runtime's tests)
    assert "gateway.scheduler" not in log and "gateway.storage.deployments" not in log, log[-2000:]
