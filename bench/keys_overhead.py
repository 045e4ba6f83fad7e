"""What virtual keys add per request (issue 14, **Benchmark**): key lookup + limit checks, and spend recording.

    .venv/bin/python bench/keys_overhead.py            # about two minutes
    .venv/bin/python bench/keys_overhead.py --quick    # under a minute

Two measurements, each with its baseline taken in the same run:

1. **In process** (CPU per call, ``time.process_time``): the keys service on a fresh SQLite database, for a key with
   a budget, an rpm and a tpm limit: ``identify`` (cached lookup) + ``admit`` (model list, counters, refusal check),
   and ``record`` (pricing, the counters' advance and the row, plus the writer's share of the batched INSERT: the
   writer's CPU is counted, divided per row, measured until every row is written; once with the calls back to
   back, once one at a time with the event loop turning between calls, as sequential requests, the writer's batches
   written while calls keep coming; each call carries a request id as real calls do). Baseline:
   ``KeyIndex.identify``, the configuration-key check every request already paid. The headline is checks +
   recording, both ways; the one-at-a-time figure is the one held against the target.
   With per-process counters and with Redis counters (127.0.0.1:6379, synced in the background every 100 ms: the
   sync's CPU is counted, the loop lets it run; wall time is reported too).
2. **Gateway process** (CPU per request from /proc utime+stime of ``litellm-gateway serve``): sequential
   non-streaming requests to the Anthropic fake with a configuration key (baseline: no limits) and with a virtual
   key with a budget, rpm and tpm limit, interleaved in rounds; the difference and the ratio, per-process counters
   and with Redis.

The issue's target: spend recording and limit checks add at most 50 µs of CPU per request.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
import yaml

from bench import hop_procs as procs
from bench.fakes import AnthropicFake

MASTER = "sk-master-keys-bench-0123456789"
CONFIG_KEY = "sk-gw-config-key-bench-0123456789"
REDIS_URL = "redis://127.0.0.1:6379/0"
MODEL = "claude-sonnet-4-5"
LIMITS = {"max_budget": 1e9, "budget_duration": "30d", "rpm_limit": 10**8, "tpm_limit": 2 * 10**9}


async def _in_process(n: int, redis: bool) -> dict[str, float]:
    from gateway.auth import KeyIndex
    from gateway.keys.counters import Counters, MemoryCounters
    from gateway.keys.pricing import Pricing, Usage
    from gateway.keys.service import KeysService
    from gateway.keys.store import KeyStore
    from gateway.keys.synced import SyncedCounters
    from gateway.request_id import new_request_id
    from gateway.settings import settings_from_mapping
    from gateway.storage.config import parse_storage
    from gateway.storage.db import create_engine, migrate

    workdir = Path(tempfile.mkdtemp(prefix="keys-bench-"))
    config = parse_storage({"storage": {"database_url": f"sqlite+aiosqlite:///{workdir / 'gw.db'}"}})
    engine = create_engine(config)
    await migrate(engine, config)
    client: Any = None
    counters: Counters = MemoryCounters()
    if redis:
        from redis import asyncio as redis_asyncio

        client = redis_asyncio.from_url(REDIS_URL)
        counters = SyncedCounters(client)
    keys = KeysService(KeyStore(engine), counters, Pricing(), shared=redis)
    keys.start()
    _made, token = await keys.generate({"key_name": f"bench-{uuid.uuid4().hex[:6]}", **LIMITS})
    settings = settings_from_mapping({"gateway": {"api_keys": [{"key": CONFIG_KEY, "name": "c"}]}})
    index = KeyIndex.from_settings(settings)
    usage = Usage(input_tokens=1200, output_tokens=300, cache_read_input_tokens=5000)
    # a real call carries its request's id (made by the request-id middleware for every request, keys or not):
    # made here beforehand, so the rows' primary keys are as random as in real traffic
    request_ids = [new_request_id() for _ in range(2 * n)]

    def timed(start_cpu: float, start_wall: float) -> tuple[float, float]:
        return (time.process_time() - start_cpu) / n * 1e6, (time.perf_counter() - start_wall) / n * 1e6

    try:
        identity = await keys.identify(token)
        assert identity is not None
        await keys.admit(identity, MODEL)  # seeds the spend counter from the database once
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(n):
            index.identify(CONFIG_KEY)
        baseline = timed(cpu, wall)
        cpu, wall = time.process_time(), time.perf_counter()
        for i in range(n):
            found = await keys.identify(token)
            assert found is not None
            await keys.admit(found, MODEL)
            if i % 100 == 0:  # let background tasks run (the Redis counters' sync): their CPU is counted too
                await asyncio.sleep(0)
        checks = timed(cpu, wall)
        cpu, wall = time.process_time(), time.perf_counter()
        for i in range(n):
            keys.record(identity, MODEL, usage, deployment="main/1", request_id=request_ids[i])
        await keys.stop()  # writes the rows (record advanced the counters)
        recording = timed(cpu, wall)
        keys.start()
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(n):  # the same loop turns without a call: the harness's own cost, subtracted below
            for _tick in range(3):
                await asyncio.sleep(0)
        ticks = timed(cpu, wall)
        cpu, wall = time.process_time(), time.perf_counter()
        for i in range(n, 2 * n):  # one call at a time, the loop turning between calls, as sequential requests:
            # the writer's batches are written while calls keep coming, its CPU counted
            keys.record(identity, MODEL, usage, deployment="main/1", request_id=request_ids[i])
            for _tick in range(3):
                await asyncio.sleep(0)
        await keys.stop()
        one_by_one = timed(cpu, wall)
    finally:
        await keys.stop()
        if client is not None:
            await client.aclose()
        await engine.dispose()
    return {
        "baseline_cpu_us": baseline[0],
        "checks_cpu_us": checks[0],
        "checks_wall_us": checks[1],
        "record_cpu_us": recording[0],
        "record_wall_us": recording[1],
        "record_alone_cpu_us": one_by_one[0] - ticks[0],
        "ticks_cpu_us": ticks[0],
    }


def _gateway(workdir: Path, fake_url: str, redis: bool) -> procs.Proc:
    doc: dict[str, Any] = {
        "gateway": {"api_keys": [{"key": CONFIG_KEY, "name": "config", "workspace": "default"}]},
        "general_settings": {"master_key": MASTER},
        "storage": {"database_url": f"sqlite+aiosqlite:///{workdir / 'gw.db'}"},
        "model_list": [{"model_name": "main", "litellm_params": {"model": "anthropic/*", "api_base": fake_url}}],
        "routing": {"default": "main"},
    }
    if redis:
        doc["router_settings"] = {"redis_url": REDIS_URL}
    path = workdir / "gateway.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    port = procs.free_port()
    script = str(Path(sys.executable).with_name("litellm-gateway"))
    argv = [script, "serve", "--config", str(path), "--port", str(port), "--log-level", "warning"]
    proc = procs._spawn(
        "gateway", f"http://127.0.0.1:{port}", argv, workdir / "gateway.log", None, procs._base_env(), workdir
    )
    proc.wait_ready("/healthcheck", timeout=60)
    return proc


def _gateway_rounds(n: int, rounds: int, redis: bool) -> dict[str, float]:
    body = {"model": MODEL, "max_tokens": 8, "messages": [{"role": "user", "content": "hello"}]}
    workdir = Path(tempfile.mkdtemp(prefix="keys-bench-gw-"))
    with AnthropicFake() as fake:
        proc = _gateway(workdir, fake.url, redis)
        try:
            with httpx.Client(base_url=proc.url, timeout=30, trust_env=False) as client:
                made = client.post("/key/generate", json=LIMITS, headers={"x-api-key": MASTER}).json()
                per: dict[str, list[float]] = {"config": [], "virtual": []}
                for _round in range(rounds):
                    for name, key in (("config", CONFIG_KEY), ("virtual", made["key"])):
                        headers = {"x-api-key": key, "anthropic-version": "2023-06-01"}
                        for _ in range(20):  # warm-up
                            client.post("/v1/messages", json=body, headers=headers).raise_for_status()
                        before = procs.cpu_seconds(proc.pid)
                        for _ in range(n):
                            client.post("/v1/messages", json=body, headers=headers).raise_for_status()
                        per[name].append((procs.cpu_seconds(proc.pid) - before) / n * 1e6)
        finally:
            proc.stop()
    config, virtual = statistics.median(per["config"]), statistics.median(per["virtual"])
    return {"config_cpu_us": config, "virtual_cpu_us": virtual, "added_cpu_us": virtual - config}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    n, gateway_n, rounds = (2000, 200, 3) if args.quick else (20000, 500, 5)
    print(f"in process: {n} calls each; gateway: {rounds} rounds x {gateway_n} sequential requests per key kind")
    for redis in (False, True):
        label = "redis counters" if redis else "per-process counters"
        micro = asyncio.run(_in_process(n, redis))
        print(
            f"[{label}] in process, CPU per call: baseline (config-key check) {micro['baseline_cpu_us']:.1f} µs; "
            f"lookup + limit checks {micro['checks_cpu_us']:.1f} µs (wall {micro['checks_wall_us']:.1f} µs, "
            f"ratio {micro['checks_cpu_us'] / micro['baseline_cpu_us']:.1f}x the baseline); "
            f"spend recording {micro['record_cpu_us']:.1f} µs (wall {micro['record_wall_us']:.1f} µs; "
            f"{micro['record_alone_cpu_us']:.1f} µs when each call is drained alone, net of the harness's 3 loop "
            f"turns per call, {micro['ticks_cpu_us']:.1f} µs); "
            f"checks + recording {micro['checks_cpu_us'] + micro['record_cpu_us']:.1f} µs back to back, "
            f"{micro['checks_cpu_us'] + micro['record_alone_cpu_us']:.1f} µs one at a time (target <= 50 µs)"
        )
        gateway = _gateway_rounds(gateway_n, rounds, redis)
        print(
            f"[{label}] gateway process, CPU per request (median of rounds): "
            f"config key {gateway['config_cpu_us']:.0f} µs, "
            f"virtual key with limits {gateway['virtual_cpu_us']:.0f} µs, added {gateway['added_cpu_us']:+.0f} µs "
            f"({gateway['virtual_cpu_us'] / gateway['config_cpu_us']:.3f}x)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
