"""The self-hosted work queue through the official SDK (strict response validation) on SQLite and PostgreSQL: items
enqueued through the storage layer (as session creation will), poll/ack/heartbeat/stop/update, lease expiry and
reclaim, no double delivery under concurrent pollers, tenant isolation."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import anthropic
import pytest

from gateway.errors import InvalidRequest, NotFound
from gateway.storage import environment_work
from gateway.storage.config import parse_storage
from gateway.storage.db import create_engine
from gateway.storage.store import Store
from tests.storage.conftest import KEY_B, http, pages_of, sdk


def enqueue(database: dict[str, Any], workspace: str, environment_id: str, count: int) -> list[str]:
    """Queue ``count`` sessions through the storage layer (what session creation does); their work ids."""

    async def run() -> list[str]:
        store = Store(create_engine(parse_storage({"storage": database})))
        try:
            ids = []
            for i in range(count):
                item = await environment_work.enqueue(
                    store, workspace, environment_id, f"sesn_{i:03d}", {"n": str(i), "gone": None}
                )
                ids.append(item["id"])
            return ids
        finally:
            await store.engine.dispose()

    return asyncio.run(run())


def test_work_queue_lifecycle(gateway: str, database: dict[str, Any]) -> None:
    client = sdk(gateway)
    work = client.beta.environments.work
    env = client.beta.environments.create(name="hosted", config={"type": "self_hosted"}).id
    cloud = client.beta.environments.create(name="cloud").id
    assert work.poll(env) is None
    ids = enqueue(database, "team-a", env, 5)

    first = work.retrieve(ids[0], environment_id=env)
    assert first.id.startswith("work_") and first.type == "work" and first.environment_id == env
    assert first.state == "queued" and first.data.type == "session" and first.data.id == "sesn_000"
    assert first.metadata == {"n": "0"} and first.acknowledged_at is None and first.secret is None
    pages = pages_of(work.list(env, limit=2))
    assert [len(p) for p in pages] == [2, 2, 1]
    assert [w.id for p in pages for w in p] == list(reversed(ids))
    stats = work.stats(env)
    assert (stats.depth, stats.pending, stats.type, stats.workers_polling) == (5, 0, "work_queue_stats", 0)
    assert stats.oldest_queued_at == first.created_at

    got = work.poll(env, anthropic_worker_id="w1")
    assert got is not None and got.id == ids[0] and got.state == "queued"
    second = work.poll(env, anthropic_worker_id="w1")
    assert second is not None and second.id == ids[1]
    stats = work.stats(env)
    assert (stats.depth, stats.pending, stats.workers_polling) == (3, 2, 1)

    acked = work.ack(ids[0], environment_id=env)
    assert acked.state == "starting" and acked.acknowledged_at is not None
    assert work.ack(ids[0], environment_id=env).acknowledged_at == acked.acknowledged_at  # idempotent
    beat = work.heartbeat(ids[0], environment_id=env, expected_last_heartbeat="NO_HEARTBEAT", desired_ttl_seconds=60)
    assert beat.type == "work_heartbeat" and beat.state == "active" and beat.lease_extended and beat.ttl_seconds == 60
    with pytest.raises(anthropic.APIStatusError) as stale:
        work.heartbeat(ids[0], environment_id=env, expected_last_heartbeat="NO_HEARTBEAT")
    assert stale.value.status_code == 412
    again = work.heartbeat(ids[0], environment_id=env, expected_last_heartbeat=beat.last_heartbeat)
    assert again.lease_extended and again.last_heartbeat >= beat.last_heartbeat
    active = work.retrieve(ids[0], environment_id=env)
    assert active.state == "active" and active.started_at is not None
    assert active.latest_heartbeat_at == again.last_heartbeat

    updated = work.update(ids[0], environment_id=env, metadata={"n": None, "worker": "w1"})
    assert updated.metadata == {"worker": "w1"}

    stopping = work.stop(ids[0], environment_id=env)
    assert stopping.state == "stopping" and stopping.stop_requested_at is not None and stopping.stopped_at is None
    assert work.heartbeat(ids[0], environment_id=env, expected_last_heartbeat="anything").state == "stopping"
    stopped = work.stop(ids[0], environment_id=env)  # the worker's own stop, once shut down
    assert stopped.state == "stopped" and stopped.stopped_at is not None
    with pytest.raises(anthropic.ConflictError):
        work.stop(ids[0], environment_id=env)
    final = work.heartbeat(ids[0], environment_id=env)
    assert final.state == "stopped" and not final.lease_extended
    with pytest.raises(anthropic.ConflictError):
        work.ack(ids[0], environment_id=env)

    # an unacknowledged item is handed out again once older than reclaim_older_than_ms
    reclaimed = work.poll(env, reclaim_older_than_ms=0)
    assert reclaimed is not None and reclaimed.id == ids[1]
    # an expired lease makes an acknowledged item pollable again (as queued)
    work.ack(ids[1], environment_id=env)
    assert [work.poll(env).id for _ in range(3)] == ids[2:]  # type: ignore[union-attr]
    lease = work.heartbeat(ids[1], environment_id=env, expected_last_heartbeat="NO_HEARTBEAT", desired_ttl_seconds=1)
    assert lease.ttl_seconds == 1
    assert work.poll(env) is None  # the lease holds
    time.sleep(1.2)
    back = work.poll(env)
    assert back is not None and back.id == ids[1] and back.state == "queued" and back.acknowledged_at is None
    with pytest.raises(anthropic.APIStatusError) as lost:  # the old worker lost the lease
        work.heartbeat(ids[1], environment_id=env, expected_last_heartbeat=lease.last_heartbeat)
    assert lost.value.status_code in (409, 412)
    forced = work.stop(ids[2], environment_id=env, force=True)
    assert forced.state == "stopped" and forced.stopped_at is not None

    started = time.monotonic()
    assert work.poll(env, block_ms=300) is None
    assert time.monotonic() - started >= 0.25

    with pytest.raises(anthropic.BadRequestError):
        work.poll(cloud)
    for call in (
        lambda: work.poll("env_missing"),
        lambda: work.list("env_missing"),
        lambda: work.stats("env_missing"),
        lambda: work.retrieve(ids[0], environment_id=cloud),
        lambda: work.retrieve("work_missing", environment_id=env),
        lambda: work.ack("work_missing", environment_id=env),
    ):
        with pytest.raises(anthropic.NotFoundError):
            call()
    with http(gateway) as raw:  # awkward values never 500
        assert raw.get(f"/v1/environments/{env}/work/work_%00").status_code == 404
        assert raw.get(f"/v1/environments/{env}/work/poll", params={"block_ms": 10**12}).status_code == 200
        assert raw.get(f"/v1/environments/{env}/work", params={"page": "garbage"}).status_code == 400

    async def refused() -> None:
        store = Store(create_engine(parse_storage({"storage": database})))
        try:
            with pytest.raises(InvalidRequest):
                await environment_work.enqueue(store, "team-a", cloud, "sesn_x")
            with pytest.raises(NotFound):
                await environment_work.enqueue(store, "team-b", env, "sesn_x")
            await environment_work.purge(store, "team-b", env)  # another workspace: nothing happens
            assert (
                len((await environment_work.list_work(store, "team-a", env, limit=100, page_cursor=None))["data"]) == 5
            )
            await environment_work.purge(store, "team-a", env)
            assert (await environment_work.list_work(store, "team-a", env, limit=100, page_cursor=None))["data"] == []
        finally:
            await store.engine.dispose()

    asyncio.run(refused())


def test_concurrent_pollers_never_share_an_item(gateway: str, database: dict[str, Any]) -> None:
    env = sdk(gateway).beta.environments.create(name="busy", config={"type": "self_hosted"}).id
    ids = enqueue(database, "team-a", env, 16)

    def worker(n: int) -> list[str]:
        client = sdk(gateway)
        got = []
        while (item := client.beta.environments.work.poll(env, reclaim_older_than_ms=600_000)) is not None:
            got.append(item.id)
        return got

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(worker, range(6)))
    delivered = [i for r in results for i in r]
    assert sorted(delivered) == sorted(ids)  # each exactly once
    assert sum(1 for r in results if r) >= 2  # really concurrent
    stats = sdk(gateway).beta.environments.work.stats(env)
    assert (stats.depth, stats.pending) == (0, 16)


def test_work_tenant_isolation(gateway: str, database: dict[str, Any]) -> None:
    alice, bob = sdk(gateway), sdk(gateway, KEY_B)
    env = alice.beta.environments.create(name="alice", config={"type": "self_hosted"}).id
    bob_env = bob.beta.environments.create(name="bob", config={"type": "self_hosted"}).id
    (item,) = enqueue(database, "team-a", env, 1)
    work = bob.beta.environments.work
    for environment_id in (env, bob_env):
        for call in (
            lambda e=environment_id: work.retrieve(item, environment_id=e),
            lambda e=environment_id: work.update(item, environment_id=e, metadata={"x": "y"}),
            lambda e=environment_id: work.ack(item, environment_id=e),
            lambda e=environment_id: work.heartbeat(item, environment_id=e),
            lambda e=environment_id: work.stop(item, environment_id=e),
        ):
            with pytest.raises(anthropic.NotFoundError):
                call()
    for call in (lambda: work.poll(env), lambda: work.list(env), lambda: work.stats(env)):
        with pytest.raises(anthropic.NotFoundError):
            call()
    assert work.poll(bob_env) is None and list(work.list(bob_env).data) == []
    assert work.stats(bob_env).depth == 0
    assert alice.beta.environments.work.retrieve(item, environment_id=env).state == "queued"
    assert [w.id for w in alice.beta.environments.work.list(env).data] == [item]
