"""Ownership: two gateway processes on one PostgreSQL database never run the same session twice, and when the owner
of a running turn is killed (SIGKILL) the other process takes the session over (``rescheduled``, then running) and
finishes the turn with no lost and no duplicated events."""

from __future__ import annotations

import time
from pathlib import Path

import anthropic

from bench.fakes import AnthropicFake, Behavior, Text
from tests.gateway_process import gateway_process
from tests.runtime.conftest import KEY, write_config
from tests.storage.conftest import storage_section


def _types(client: anthropic.Anthropic, session_id: str) -> list[str]:
    return [e.type for e in client.beta.sessions.events.list(session_id, limit=1000)]


def test_killed_owner_is_replaced(tmp_path: Path) -> None:
    with storage_section("postgresql", tmp_path) as storage, AnthropicFake(name="session-model") as fake:
        config = write_config(tmp_path, fake, storage)
        with gateway_process(config, {}) as (owner, url_a), gateway_process(config, {}) as (_other, url_b):
            a = anthropic.Anthropic(base_url=url_a, api_key=KEY, max_retries=0)
            b = anthropic.Anthropic(base_url=url_b, api_key=KEY, max_retries=0)
            env = a.beta.environments.create(name="cloud")
            agent = a.beta.agents.create(name="agent", model="claude-sonnet-5-5")
            session = a.beta.sessions.create(agent=agent.id, environment_id=env.id)
            fake.script(
                Behavior(content=[Text("never delivered")], latency_s=60), Behavior(content=[Text("recovered")])
            )
            a.beta.sessions.events.send(
                session.id, events=[{"type": "user.message", "content": [{"type": "text", "text": "go"}]}]
            )
            deadline = time.monotonic() + 10
            while "span.model_request_start" not in _types(b, session.id) and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(2)  # several lease renewals: the other process must not take a live session
            assert len(fake.requests) == 1
            assert b.beta.sessions.retrieve(session.id).status == "running"
            owner.kill()  # SIGKILL mid-request
            owner.wait(10)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                types = _types(b, session.id)
                if types[-1:] == ["session.status_idle"]:
                    break
                time.sleep(0.2)
            events = list(b.beta.sessions.events.list(session.id, limit=1000))
    assert [e.type for e in events] == [
        "user.message",
        "session.status_running",
        "span.model_request_start",
        "span.model_request_end",  # closed by the new owner: is_error
        "session.status_rescheduled",
        "session.status_running",
        "span.model_request_start",
        "agent.message",
        "span.model_request_end",
        "session.status_idle",
    ]
    assert len({e.id for e in events}) == len(events)
    assert events[3].is_error is True and events[3].model_request_start_id == events[2].id
    assert events[7].content[0].text == "recovered"
    assert fake.pending == 0 and len(fake.requests) == 2
