"""Session runtime model calls are metered against the key that created the session: its spend rows, its budget
(a spent budget ends the turn with the Managed Agents ``billing_error``, not retried) — real gateway processes, the
real SDK as the client, the Anthropic fake as the model."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import anthropic
import httpx

from bench.fakes import AnthropicFake, Behavior, ServerBlock, Text, ToolUse
from tests.keys.conftest import MODEL, admin, config, gateways, generate

PRICES = {"input_cost_per_token": 0.001, "output_cost_per_token": 0.001}
BETA = "managed-agents-2026-04-01"


def client(url: str, key: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        base_url=url,
        api_key=key,
        max_retries=0,
        _strict_response_validation=True,
        default_headers={"anthropic-beta": BETA},
    )


def turn(sdk: anthropic.Anthropic, session_id: str, text: str, within: float = 20) -> list[Any]:
    """Send a user message and wait for the session's idle after it; the events of that turn."""
    before = len(sdk.beta.sessions.events.list(session_id, limit=1000).data)
    sdk.beta.sessions.events.send(
        session_id, events=[{"type": "user.message", "content": [{"type": "text", "text": text}]}]
    )
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        events = sdk.beta.sessions.events.list(session_id, limit=1000).data[before:]
        if events and events[-1].type == "session.status_idle":
            return events
        time.sleep(0.1)
    raise AssertionError(f"no idle after {text!r}")


def spend_rows(url: str, token: str, expected: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 5
    with admin(url) as c:
        while True:
            rows: list[dict[str, Any]] = c.get("/spend/logs", params={"api_key": token}).json()
            if len(rows) >= expected or time.monotonic() > deadline:
                return rows
            time.sleep(0.1)


def test_a_sessions_model_calls_are_the_creating_keys_spend_and_its_budget_ends_the_turn(
    tmp_path: Path, sqlite: dict[str, Any], fake: AnthropicFake
) -> None:
    fake.default = Behavior(input_tokens=20)  # each call: 20 input + a few output tokens at $0.001: over $0.02
    with gateways(config(tmp_path, sqlite, fake.url, litellm_params=PRICES)) as [url]:
        made = generate(url, max_budget=0.02, budget_duration="1d", workspace="team-a")
        other = generate(url, workspace="team-a")
        sdk = client(url, made["key"])
        environment = sdk.beta.environments.create(name=f"env-{time.time_ns()}")
        agent = sdk.beta.agents.create(name="metered", model=MODEL)
        session = sdk.beta.sessions.create(agent=agent.id, environment_id=environment.id)
        shown = httpx.get(
            f"{url}/v1/sessions/{session.id}",
            headers={"x-api-key": made["key"], "anthropic-version": "2023-06-01", "anthropic-beta": BETA},
        ).json()
        assert "_identity" not in shown and session.id == shown["id"]

        first = turn(sdk, session.id, "hello")
        assert first[-1].stop_reason.type == "end_turn"
        rows = spend_rows(url, made["token"], 1)
        assert len(rows) == 1
        assert rows[0]["prompt_tokens"] == 20 and rows[0]["spend"] > 0.02
        assert rows[0]["request_id"].startswith(f"{session.id}/")
        assert spend_rows(url, other["token"], 0) == []  # nothing on a key that did not create the session

        refused = turn(sdk, session.id, "again")
        errors = [e for e in refused if e.type == "session.error"]
        assert len(errors) == 1, [e.type for e in refused]
        assert errors[0].error.type == "billing_error"
        assert errors[0].error.retry_status.type == "terminal"  # not retried: x-should-retry: false
        assert refused[-1].stop_reason.type == "retries_exhausted"
        assert [r.path for r in fake.requests] == ["/v1/messages"]  # the refused call never reached the model
        assert len(spend_rows(url, made["token"], 2)) == 1  # the refused call cost nothing


def test_a_sessions_web_search_request_is_the_creating_keys_spend_too(
    tmp_path: Path, sqlite: dict[str, Any], fake: AnthropicFake
) -> None:
    found = {
        "type": "web_search_tool_result",
        "tool_use_id": "srvtoolu_1",
        "content": [{"type": "web_search_result", "url": "https://a.example/", "title": "A"}],
    }
    fake.script(
        Behavior(content=[ToolUse("web_search", {"query": "q"})]),
        Behavior(content=[ServerBlock(found)], input_tokens=7),  # the search request
        Behavior(content=[Text("done")]),
    )
    with gateways(config(tmp_path, sqlite, fake.url, litellm_params=PRICES)) as [url]:
        made = generate(url, workspace="team-a")
        sdk = client(url, made["key"])
        environment = sdk.beta.environments.create(name=f"env-{time.time_ns()}")
        agent = sdk.beta.agents.create(name="searcher", model=MODEL, tools=[{"type": "agent_toolset_20260401"}])
        session = sdk.beta.sessions.create(agent=agent.id, environment_id=environment.id)
        events = turn(sdk, session.id, "search")
        assert events[-1].stop_reason.type == "end_turn"
        call = next(e for e in events if e.type == "agent.tool_use")
        result = next(e for e in events if e.type == "agent.tool_result")
        assert not result.is_error and result.content[0].text == "- A\n  https://a.example/"  # type: ignore[union-attr]
        rows = spend_rows(url, made["token"], 3)
        assert len(rows) == 3
        search = [r for r in rows if r["request_id"] == f"{session.id}/{call.id}"]
        assert len(search) == 1 and search[0]["prompt_tokens"] == 7
