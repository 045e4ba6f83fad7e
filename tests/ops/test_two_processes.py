"""Two gateway processes on one PostgreSQL behave as one gateway (issue 14, "Several processes"): 20 pollers spread
over both never get one work item twice; ``kill -9`` of one process leaves the other serving, and every write either
acknowledged is there afterwards. Real ``litellm-gateway serve`` processes, the machine's PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import anthropic
import httpx
import pytest
import yaml

from gateway.storage import environment_work
from gateway.storage.config import parse_storage
from gateway.storage.db import create_engine
from gateway.storage.store import Store
from tests.gateway_process import gateway_process
from tests.storage.conftest import KEY_A, storage_section

ITEMS = 1000
POLLERS = 20


@pytest.fixture
def postgresql(tmp_path: Path) -> Iterator[dict[str, Any]]:
    with storage_section("postgresql", tmp_path) as section:
        yield section


@contextmanager
def two_gateways(tmp_path: Path, storage: dict[str, Any]) -> Iterator[list[tuple[Any, str]]]:
    config = tmp_path / "gateway.yaml"
    doc = {"gateway": {"api_keys": [{"key": KEY_A, "name": "alice", "workspace": "team-a"}]}, "storage": storage}
    config.write_text(yaml.safe_dump(doc), encoding="utf-8")
    with ExitStack() as stack:
        yield [stack.enter_context(gateway_process(config, {}, log_file=tmp_path / f"g{i}.log")) for i in range(2)]


def sdk(url: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=url, api_key=KEY_A, max_retries=0, timeout=30)


def enqueue(storage: dict[str, Any], environment_id: str, count: int) -> list[str]:
    """Queue ``count`` work items through the storage layer (what session creation does)."""

    async def run() -> list[str]:
        store = Store(create_engine(parse_storage({"storage": storage})))
        try:
            return [
                (await environment_work.enqueue(store, "team-a", environment_id, f"sesn_{i:04d}"))["id"]
                for i in range(count)
            ]
        finally:
            await store.engine.dispose()

    return asyncio.run(run())


def test_twenty_pollers_on_two_processes_never_get_an_item_twice(tmp_path: Path, postgresql: dict[str, Any]) -> None:
    with two_gateways(tmp_path, postgresql) as [(_, first), (_, second)]:
        env = sdk(first).beta.environments.create(name="shared", config={"type": "self_hosted"}).id
        ids = enqueue(postgresql, env, ITEMS)

        start = threading.Barrier(POLLERS)  # every poller has its client before the first poll

        def poller(n: int) -> list[str]:
            client = sdk(first if n % 2 == 0 else second)
            start.wait(timeout=60)
            got = []
            while (item := client.beta.environments.work.poll(env, reclaim_older_than_ms=600_000)) is not None:
                got.append(item.id)
            return got

        with ThreadPoolExecutor(POLLERS) as pool:
            results = list(pool.map(poller, range(POLLERS)))
        delivered = [i for r in results for i in r]
        assert len(delivered) == len(set(delivered)) == ITEMS  # no item twice, none lost
        assert sorted(delivered) == sorted(ids)
        by_process = [sum(len(r) for n, r in enumerate(results) if n % 2 == side) for side in (0, 1)]
        assert min(by_process) > 0, by_process  # both processes handed items out
        assert sum(1 for r in results if r) > POLLERS // 2  # really concurrent


def test_kill_9_of_one_process_leaves_the_other_serving_and_no_acknowledged_write_lost(
    tmp_path: Path, postgresql: dict[str, Any]
) -> None:
    acknowledged: dict[str, str] = {}  # agent id -> name
    after_kill: list[str] = []
    killed = threading.Event()
    lock = threading.Lock()

    def burst(url: str, worker: int) -> None:
        with httpx.Client(base_url=url, headers={"x-api-key": KEY_A}, timeout=10) as client:
            for i in range(100_000):
                if killed.is_set() and len(after_kill) >= 50:
                    return
                name = f"w{worker}-{i}"
                try:
                    answer = client.post("/v1/agents", json={"name": name, "model": "claude-haiku-4-5"})
                except httpx.TransportError:
                    return  # its process is gone
                if answer.status_code == 200:
                    with lock:
                        acknowledged[answer.json()["id"]] = name
                        if killed.is_set():
                            after_kill.append(name)

    with two_gateways(tmp_path, postgresql) as [(victim, first), (_, second)]:
        threads = [threading.Thread(target=burst, args=(first if n < 4 else second, n), daemon=True) for n in range(8)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 60
        while len(acknowledged) < 100 and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(victim.pid, signal.SIGKILL)
        killed.set()
        for thread in threads:
            thread.join(timeout=120)
        assert victim.wait(10) == -signal.SIGKILL
        assert len(after_kill) >= 50  # the survivor kept acknowledging writes after the kill
        with httpx.Client(base_url=second, headers={"x-api-key": KEY_A}, timeout=30) as client:
            for agent_id, name in acknowledged.items():
                answer = client.get(f"/v1/agents/{agent_id}")
                assert answer.status_code == 200, (agent_id, answer.text)
                assert answer.json()["name"] == name
