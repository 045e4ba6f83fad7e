"""Deployments that fire, at the storage layer on SQLite and PostgreSQL: a manual run creates the deployment's session
(with the initial events in its log) and hands it to the runtime; the scheduler fires each cron occurrence exactly
once, also when two stores (two engines, as two gateway processes) tick at once; paused and archived deployments do
not fire; unpause does not backfill; a run whose environment was archived records the error and pauses. Records are
checked against the ``anthropic`` SDK's own models."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from anthropic.types.beta import BetaManagedAgentsDeployment, BetaManagedAgentsDeploymentRun, BetaManagedAgentsSession
from pydantic import BaseModel

from gateway.errors import InvalidRequest
from gateway.scheduler import DeploymentScheduler, parse_scheduler
from gateway.settings import ConfigError
from gateway.storage import agents, deployments, environments, sessions, vaults
from gateway.storage.config import parse_storage
from gateway.storage.db import create_engine, migrate
from gateway.storage.store import Store

WS = "team-a"
EVENTS = [{"type": "user.message", "content": [{"type": "text", "text": "run the nightly report"}]}]
BUDGET = {"type": "limit", "max_list_cost": {"amount": "2500", "currency": "USD"}}
PARIS = ZoneInfo("Europe/Paris")


@asynccontextmanager
async def stores(database: dict[str, Any], count: int = 1) -> AsyncIterator[list[Store]]:
    """``count`` stores on one migrated database, each with its own engine (as separate gateway processes)."""
    config = parse_storage({"storage": database})
    engines = [create_engine(config) for _ in range(count)]
    try:
        await migrate(engines[0], config)
        yield [Store(engine) for engine in engines]
    finally:
        for engine in engines:
            await engine.dispose()


class Started:
    """A real ``start_session`` callable: records the sessions handed to the runtime."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    async def __call__(self, workspace: str, session_id: str) -> None:
        self.calls.append((workspace, session_id))


def sdk_model(model: type[BaseModel], value: Mapping[str, Any]) -> Any:
    """``value`` parsed by the SDK's model, with no field the model does not know (the models allow extras)."""
    parsed = model.model_validate(dict(value))
    assert set(value) <= set(model.model_fields), set(value) - set(model.model_fields)
    return parsed


async def deployment(store: Store, schedule: Mapping[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    agent = await agents.create(store, WS, {"name": "reporter", "model": "claude-sonnet-4-6"})
    env = await environments.create(store, WS, {"name": "sandbox"})
    body = {"name": "nightly", "agent": agent["id"], "environment_id": env["id"], "initial_events": EVENTS, **extra}
    if schedule is not None:
        body["schedule"] = {"type": "cron", **schedule}
    return await deployments.create(store, WS, body)


def next_nine_paris(after: datetime) -> datetime:
    """The first 09:00 Europe/Paris strictly after ``after`` (computed without the gateway's cron code)."""
    local = after.astimezone(PARIS)
    fire = local.replace(hour=9, minute=0, second=0, microsecond=0)
    if fire <= local:
        fire = (local + timedelta(days=1)).replace(hour=9, minute=0, second=0, microsecond=0)
    return fire.astimezone(UTC)


async def runs_of(store: Store, deployment_id: str, *, has_error: bool | None = None) -> dict[str, Any]:
    return await deployments.list_runs(
        store,
        WS,
        limit=None,
        page_cursor=None,
        deployment_id=deployment_id,
        has_error=has_error,
        trigger_type=None,
        created={},
    )


def at(value: str | datetime) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else value


async def test_manual_run_creates_the_session(database: dict[str, Any]) -> None:
    async with stores(database) as (store,):
        vault = await vaults.create_vault(store, WS, {"display_name": "keys"})
        dep = await deployment(store, metadata={"team": "a"}, vault_ids=[vault["id"]], budget=BUDGET)
        await agents.update(store, WS, dep["agent"]["id"], {"version": 1, "system": "v2"})  # the deployment pins v1
        started = Started()

        run = await deployments.run(store, WS, dep["id"], start_session=started)
        parsed = sdk_model(BetaManagedAgentsDeploymentRun, run)
        assert parsed.type == "deployment_run" and parsed.id.startswith("drun_01")
        assert parsed.deployment_id == dep["id"] and parsed.trigger_context.type == "manual"
        assert (parsed.agent.type, parsed.agent.id, parsed.agent.version) == ("agent", dep["agent"]["id"], 1)
        assert parsed.error is None and "error" not in run and parsed.session_id is not None
        assert started.calls == [(WS, parsed.session_id)]

        session = sdk_model(BetaManagedAgentsSession, await sessions.retrieve(store, WS, parsed.session_id))
        assert session.deployment_id == dep["id"] and session.environment_id == dep["environment_id"]
        assert (session.agent.id, session.agent.version, session.agent.system) == (dep["agent"]["id"], 1, None)
        assert session.metadata == {"team": "a"} and session.vault_ids == [vault["id"]]
        assert session.budget is not None and session.budget.max_list_cost.amount == "2500"
        log = await sessions.list_events(store, WS, parsed.session_id, limit=100, page_cursor=None)
        assert [(e["type"], e["content"]) for e in log["data"]] == [(e["type"], e["content"]) for e in EVENTS]

        runs = await runs_of(store, dep["id"])
        assert runs["data"] == [run] and await deployments.retrieve_run(store, WS, run["id"]) == run
        found = await sessions.list_sessions(store, WS, deployment_id=dep["id"])
        assert [s["id"] for s in found["data"]] == [parsed.session_id]
        assert (await sessions.list_sessions(store, WS, deployment_id="depl_01other"))["data"] == []
        # manual runs do not count as the schedule's last run; a deployment without a schedule has none
        assert sdk_model(BetaManagedAgentsDeployment, await deployments.retrieve(store, WS, dep["id"])).schedule is None

        await deployments.archive(store, WS, dep["id"])
        with pytest.raises(InvalidRequest):
            await deployments.run(store, WS, dep["id"], start_session=started)
        assert len(started.calls) == 1


async def test_a_tick_at_an_occurrence_fires_it_once(database: dict[str, Any]) -> None:
    async with stores(database, 2) as (store, other_store):
        dep = await deployment(store, {"expression": "0 9 * * *", "timezone": "Europe/Paris"})
        first = next_nine_paris(datetime.now(UTC))
        started = Started()
        scheduler = DeploymentScheduler(store, tick_seconds=15, start_session=started)

        assert await scheduler.tick(first - timedelta(seconds=10)) == []  # not yet due
        (run,) = await scheduler.tick(first + timedelta(seconds=5))
        parsed = sdk_model(BetaManagedAgentsDeploymentRun, run)
        assert parsed.trigger_context.type == "schedule" and parsed.trigger_context.scheduled_at == first
        assert parsed.session_id is not None and parsed.error is None and parsed.deployment_id == dep["id"]
        assert run["id"] == deployments.occurrence_run_id(dep["id"], first)
        assert started.calls == [(WS, parsed.session_id)]
        log = await sessions.list_events(store, WS, parsed.session_id, limit=100, page_cursor=None)
        assert [e["type"] for e in log["data"]] == ["user.message"]

        # the same window again, a later tick, and a second process (its own engine) that starts right after: none
        assert await scheduler.tick(first + timedelta(seconds=5)) == []
        assert await scheduler.tick(first + timedelta(seconds=20)) == []
        assert await DeploymentScheduler(other_store, tick_seconds=15).tick(first + timedelta(seconds=6)) == []

        # two processes tick at the same moment over the next occurrence: exactly one of them fires it
        second = next_nine_paris(first)
        pair = [DeploymentScheduler(s, tick_seconds=15, start_session=started) for s in (store, other_store)]
        results = await asyncio.gather(*(p.tick(second + timedelta(seconds=1)) for p in pair))
        assert sorted(len(r) for r in results) == [0, 1]
        (fired,) = [r for result in results for r in result]
        assert at(fired["trigger_context"]["scheduled_at"]) == second

        runs = await runs_of(store, dep["id"])
        assert [at(r["trigger_context"]["scheduled_at"]) for r in runs["data"]] == [second, first]
        found = await sessions.list_sessions(store, WS, deployment_id=dep["id"])
        assert {s["id"] for s in found["data"]} == {r["session_id"] for r in runs["data"]}
        assert len(started.calls) == 2
        shown = sdk_model(BetaManagedAgentsDeployment, await deployments.retrieve(store, WS, dep["id"]))
        assert shown.schedule is not None and shown.schedule.last_run_at == at(runs["data"][0]["created_at"])

        # a manual run does not move last_run_at
        await deployments.run(store, WS, dep["id"])
        again = sdk_model(BetaManagedAgentsDeployment, await deployments.retrieve(store, WS, dep["id"]))
        assert again.schedule is not None and again.schedule.last_run_at == shown.schedule.last_run_at


async def test_paused_and_archived_deployments_do_not_fire_and_unpause_does_not_backfill(
    database: dict[str, Any],
) -> None:
    async with stores(database) as (store,):
        dep = await deployment(store, {"expression": "*/10 * * * *", "timezone": "UTC"})
        untouched = await deployment(store, {"expression": "*/10 * * * *", "timezone": "UTC"})
        now = datetime.now(UTC)
        occurrence = now.replace(minute=now.minute - now.minute % 10, second=0, microsecond=0) + timedelta(hours=1)

        await deployments.pause(store, WS, dep["id"])
        await deployments.archive(store, WS, untouched["id"])
        assert await DeploymentScheduler(store).tick(occurrence + timedelta(seconds=1)) == []

        # unpaused 2 s after the occurrence: a fresh process whose window still covers it does not fire it
        await deployments.unpause(store, WS, dep["id"], now=occurrence + timedelta(seconds=2))
        scheduler = DeploymentScheduler(store, tick_seconds=15)
        assert await scheduler.tick(occurrence + timedelta(seconds=5)) == []
        (run,) = await scheduler.tick(occurrence + timedelta(minutes=10, seconds=1))  # the next occurrence fires
        assert at(run["trigger_context"]["scheduled_at"]) == occurrence + timedelta(minutes=10)
        assert run["deployment_id"] == dep["id"] and run["session_id"] is not None

        # a gateway that was down fires nothing older than one tick
        restarted = DeploymentScheduler(store, tick_seconds=15)
        assert await restarted.tick(occurrence + timedelta(minutes=20, seconds=16)) == []
        # ... but one that came back within a tick of an occurrence fires it
        (late,) = await DeploymentScheduler(store, tick_seconds=15).tick(occurrence + timedelta(minutes=30, seconds=14))
        assert at(late["trigger_context"]["scheduled_at"]) == occurrence + timedelta(minutes=30)


async def test_a_failed_scheduled_run_records_the_error_and_pauses(database: dict[str, Any]) -> None:
    async with stores(database) as (store,):
        dep = await deployment(store, {"expression": "0 9 * * *", "timezone": "Europe/Paris"})
        await environments.archive(store, WS, dep["environment_id"])
        first = next_nine_paris(datetime.now(UTC))
        started = Started()
        scheduler = DeploymentScheduler(store, tick_seconds=15, start_session=started)

        (run,) = await scheduler.tick(first + timedelta(seconds=1))
        parsed = sdk_model(BetaManagedAgentsDeploymentRun, run)
        assert parsed.session_id is None and parsed.error is not None
        assert parsed.error.type == "environment_archived_error" and dep["environment_id"] in parsed.error.message
        assert started.calls == []
        paused = sdk_model(BetaManagedAgentsDeployment, await deployments.retrieve(store, WS, dep["id"]))
        assert paused.status == "paused" and paused.paused_reason is not None
        assert paused.paused_reason.type == "error" and paused.paused_reason.error.type == "environment_archived_error"
        assert paused.schedule is not None and paused.schedule.last_run_at is None  # no scheduled run started
        assert (await sessions.list_sessions(store, WS, deployment_id=dep["id"]))["data"] == []

        # paused: the next occurrence does not fire; a manual run still records (and does not change the reason)
        assert await scheduler.tick(next_nine_paris(first) + timedelta(seconds=1)) == []
        manual = await deployments.run(store, WS, dep["id"])
        assert manual["error"]["type"] == "environment_archived_error" and manual["session_id"] is None
        still = await deployments.retrieve(store, WS, dep["id"])
        assert still["paused_reason"] == {"type": "error", "error": {"type": "environment_archived_error"}}
        errors = await runs_of(store, dep["id"], has_error=True)
        assert [r["id"] for r in errors["data"]] == [manual["id"], run["id"]]


def test_scheduler_config() -> None:
    assert parse_scheduler({}).tick_seconds == 15
    assert parse_scheduler({"runtime": {"scheduler_tick_seconds": 2, "other": 1}}).tick_seconds == 2
    for bad in (0, -1, "soon", True):
        with pytest.raises(ConfigError, match=r"runtime\.scheduler_tick_seconds"):
            parse_scheduler({"runtime": {"scheduler_tick_seconds": bad}})
