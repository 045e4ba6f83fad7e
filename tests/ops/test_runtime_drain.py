"""The session runtime during a drain: its sweeper takes no session, a running turn finishes within the grace period,
and a turn longer than the grace period is handed over at once (lease released) to another process."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import anthropic
import yaml

from bench.fakes import AnthropicFake, Behavior, Text
from gateway.ops.drain import Drain
from gateway.runtime.config import RuntimeConfig
from gateway.runtime.service import Runtime
from gateway.storage import session_runs
from gateway.storage.config import parse_storage
from gateway.storage.db import create_engine, migrate
from gateway.storage.store import Store
from tests.gateway_process import gateway_process
from tests.runtime.conftest import KEY, write_config
from tests.storage.conftest import storage_section


async def test_sweeper_takes_no_session_while_draining(tmp_path: Path) -> None:
    config = parse_storage({"storage": {"database_url": f"sqlite+aiosqlite:///{tmp_path / 'runs.db'}"}})
    engine = create_engine(config)
    try:
        await migrate(engine, config)
        await session_runs.want(engine, "ws", "sesn_waiting")
        runtime = Runtime(RuntimeConfig(), Store(engine), native=None)  # type: ignore[arg-type]
        runtime.drain = Drain(grace_seconds=5)
        runtime.drain.begin()
        await runtime.sweep_once()
        assert runtime.tasks == {}  # the due session stays for another process
        await runtime.kick("ws", "sesn_waiting")
        assert runtime.tasks == {}  # nor is a new turn started here: the want is recorded for the others
        assert await session_runs.wanted(engine, "sesn_waiting") == 2
        runtime.drain = Drain(grace_seconds=5)  # not draining: the same sweep takes it
        await runtime.sweep_once()
        assert list(runtime.tasks) == ["sesn_waiting"]
        runtime.tasks["sesn_waiting"].cancel()
    finally:
        await engine.dispose()


def _config(tmp: Path, fake: AnthropicFake, storage: dict[str, Any], ops: dict[str, Any]) -> Path:
    path = write_config(tmp, fake, storage)
    doc = yaml.safe_load(path.read_text())
    doc["ops"] = ops
    path.write_text(yaml.safe_dump(doc))
    return path


def _types(client: anthropic.Anthropic, session_id: str) -> list[str]:
    return [e.type for e in client.beta.sessions.events.list(session_id, limit=1000)]


def _start_turn(client: anthropic.Anthropic) -> str:
    env = client.beta.environments.create(name="cloud")
    agent = client.beta.agents.create(name="agent", model="claude-sonnet-5-5")
    session = client.beta.sessions.create(agent=agent.id, environment_id=env.id)
    client.beta.sessions.events.send(
        session.id, events=[{"type": "user.message", "content": [{"type": "text", "text": "go"}]}]
    )
    deadline = time.monotonic() + 15
    while "span.model_request_start" not in _types(client, session.id):
        assert time.monotonic() < deadline, "the turn did not start"
        time.sleep(0.1)
    return session.id


def _wait_idle(client: anthropic.Anthropic, session_id: str, within: float) -> list[str]:
    deadline = time.monotonic() + within
    while True:
        types = _types(client, session_id)
        if types[-1:] == ["session.status_idle"]:
            return types
        assert time.monotonic() < deadline, types
        time.sleep(0.2)


def test_drain_lets_the_running_turn_finish(tmp_path: Path) -> None:
    with storage_section("postgresql", tmp_path) as storage, AnthropicFake(name="session-model") as fake:
        config = _config(tmp_path, fake, storage, {"drain_grace_seconds": 30})
        with gateway_process(config, {}) as (owner, url_a), gateway_process(config, {}) as (_other, url_b):
            a = anthropic.Anthropic(base_url=url_a, api_key=KEY, max_retries=0)
            b = anthropic.Anthropic(base_url=url_b, api_key=KEY, max_retries=0)
            fake.script(Behavior(content=[Text("finished while draining")], latency_s=3))
            session_id = _start_turn(a)
            owner.send_signal(signal.SIGTERM)
            assert owner.wait(30) == 0
            types = _wait_idle(b, session_id, 5)  # already idle: the owner finished the turn before exiting
    assert "session.status_rescheduled" not in types and types.count("agent.message") == 1
    assert len(fake.requests) == 1


def test_turn_longer_than_the_grace_is_handed_over(tmp_path: Path) -> None:
    with storage_section("postgresql", tmp_path) as storage, AnthropicFake(name="session-model") as fake:
        runtime = {"lease_ttl_seconds": 60}  # a handover within seconds proves the lease was released, not expired
        path = _config(tmp_path, fake, storage, {"drain_grace_seconds": 1})
        doc = yaml.safe_load(path.read_text())
        doc["runtime"].update(runtime)
        path.write_text(yaml.safe_dump(doc))
        with gateway_process(path, {}) as (owner, url_a), gateway_process(path, {}) as (_other, url_b):
            a = anthropic.Anthropic(base_url=url_a, api_key=KEY, max_retries=0)
            b = anthropic.Anthropic(base_url=url_b, api_key=KEY, max_retries=0)
            fake.script(Behavior(content=[Text("never delivered")], latency_s=60), Behavior(content=[Text("taken")]))
            session_id = _start_turn(a)
            signalled = time.monotonic()
            owner.send_signal(signal.SIGTERM)
            assert owner.wait(20) == 0
            types = _wait_idle(b, session_id, 20)
            assert time.monotonic() - signalled < 20
    assert "session.status_rescheduled" in types
    assert types.index("agent.message") > types.index("session.status_rescheduled")  # answered by the other one
    assert len(fake.requests) == 2
