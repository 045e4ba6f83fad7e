"""Spend recording on a real gateway: tokens by kind and cost per native call, JSON and SSE, per-deployment prices
or LiteLLM's price map; /spend/logs filters and totals per key and workspace."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bench.fakes import AnthropicFake, Behavior
from gateway.keys.pricing import price_map
from tests.keys.conftest import CONFIG_KEY, MODEL, admin, ask, config, gateways, generate, sdk

PRICES = {"input_cost_per_token": 0.001, "output_cost_per_token": 0.002, "cache_read_input_token_cost": 0.0001}


def spend_rows(url: str, expected: int, **filters: Any) -> list[dict[str, Any]]:
    """The spend rows matching ``filters`` once ``expected`` of them are written (rows are batched: ~0.5 s)."""
    deadline = time.monotonic() + 5
    with admin(url) as client:
        while True:
            rows: list[dict[str, Any]] = client.get("/spend/logs", params=filters).json()
            if len(rows) >= expected or time.monotonic() > deadline:
                return rows
            time.sleep(0.1)


def test_tokens_by_kind_and_cost_from_the_deployment_prices(
    tmp_path: Path, database: dict[str, Any], fake: AnthropicFake
) -> None:
    fake.script(
        Behavior(input_tokens=100, cache_creation_input_tokens=0, cache_read_input_tokens=1000),
        Behavior(input_tokens=50),
    )
    with gateways(config(tmp_path, database, fake.url, litellm_params=PRICES)) as [url]:
        made = generate(url, key_alias="alice", workspace="team-a")
        first = ask(url, made["key"])
        with sdk(url, made["key"]).messages.stream(
            model=MODEL, max_tokens=16, messages=[{"role": "user", "content": "stream please"}]
        ) as stream:
            second = stream.get_final_message()
        rows = spend_rows(url, 2, api_key=made["token"])
        assert len(rows) == 2
        by_input = {row["prompt_tokens"]: row for row in rows}
        json_row = by_input[1100]
        assert (
            json_row["cache_read_input_tokens"] == 1000 and json_row["completion_tokens"] == first.usage.output_tokens
        )
        expected = 100 * 0.001 + 1000 * 0.0001 + first.usage.output_tokens * 0.002
        assert json_row["spend"] == pytest.approx(expected)
        assert json_row["key_alias"] == "alice" and json_row["workspace"] == "team-a"
        assert json_row["deployment"] == "main/1" and json_row["model"] == MODEL
        sse_row = by_input[50]
        assert sse_row["completion_tokens"] == second.usage.output_tokens > 0
        assert sse_row["spend"] == pytest.approx(50 * 0.001 + second.usage.output_tokens * 0.002)

        with admin(url) as client:
            info = client.get("/key/info", params={"key": made["token"]}).json()["info"]
            assert info["spend"] == pytest.approx(json_row["spend"] + sse_row["spend"])
            totals = client.get("/spend/totals", params={"group_by": "workspace"}).json()
            assert totals["totals"] == [
                {
                    "group": "team-a",
                    "requests": 2,
                    "input_tokens": 150,
                    "output_tokens": first.usage.output_tokens + second.usage.output_tokens,
                    "cache_creation_input_tokens": 0,
                    "cache_read_input_tokens": 1000,
                    "spend": pytest.approx(info["spend"]),
                }
            ]


def test_litellm_price_map_and_config_keys(tmp_path: Path, sqlite: dict[str, Any], fake: AnthropicFake) -> None:
    price = price_map()[MODEL]
    fake.script(Behavior(input_tokens=1000))
    with gateways(config(tmp_path, sqlite, fake.url)) as [url]:
        message = ask(url, CONFIG_KEY)
        [row] = spend_rows(url, 1, api_key="config:config-alice")
        expected = 1000 * price["input_cost_per_token"] + message.usage.output_tokens * price["output_cost_per_token"]
        assert row["spend"] == pytest.approx(expected) and row["spend"] > 0
        assert row["workspace"] == "team-a"
        with admin(url) as client:
            assert client.get("/spend/logs", params={"model": "claude-opus-4-1"}).json() == []
            assert client.get("/spend/logs", params={"start_date": "2999-01-01"}).json() == []
            assert len(client.get("/spend/logs", params={"end_date": "2999-01-01"}).json()) == 1
            bad = client.get("/spend/logs", params={"start_date": "yesterday"})
            assert bad.status_code == 400 and bad.json()["error"]["type"] == "invalid_request_error"


def test_failed_calls_cost_nothing(tmp_path: Path, sqlite: dict[str, Any], fake: AnthropicFake) -> None:
    fake.script(Behavior(status=400))
    with gateways(config(tmp_path, sqlite, fake.url)) as [url]:
        made = generate(url)
        answer = httpx.post(
            f"{url}/v1/messages",
            headers={"x-api-key": made["key"], "anthropic-version": "2023-06-01"},
            json={"model": MODEL, "max_tokens": 8, "messages": [{"role": "user", "content": "x"}]},
        )
        assert answer.status_code == 400
        ask(url, made["key"])
        rows = spend_rows(url, 1, api_key=made["token"])
        time.sleep(1)  # a second row, if any, would have been written by now
        assert len(spend_rows(url, 2, api_key=made["token"])) == len(rows) == 1


def test_spend_feeds_the_cost_metric(tmp_path: Path, sqlite: dict[str, Any], fake: AnthropicFake) -> None:
    fake.default = Behavior(input_tokens=100)
    with gateways(config(tmp_path, sqlite, fake.url, litellm_params=PRICES)) as [url]:
        made = generate(url)
        answer = ask(url, made["key"])
        expected = 100 * 0.001 + answer.usage.output_tokens * 0.002
        scrape = httpx.get(f"{url}/metrics", headers={"x-api-key": CONFIG_KEY}, timeout=10)
        assert scrape.status_code == 200
        families = {f.name: f for f in text_string_to_metric_families(scrape.text)}
        samples = {
            s.labels["deployment"]: s.value for s in families["gateway_cost_usd"].samples if s.name.endswith("_total")
        }
        assert samples == {"main/1": pytest.approx(expected)}
