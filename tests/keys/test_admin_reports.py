"""Anthropic's Admin API reports at their documented paths (``/v1/organizations/usage_report/messages``,
``/v1/organizations/cost_report``), read with plain httpx (the SDK has no method for them) from a real gateway over
real spend rows; the gateway validates its own answers against the contract (``validate_responses``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.fakes import AnthropicFake, Behavior
from tests.keys.conftest import CONFIG_KEY, MASTER, MODEL, config, gateways, generate, sdk
from tests.keys.test_spend import spend_rows

PRICES = {"input_cost_per_token": 0.001, "output_cost_per_token": 0.002}
USAGE = "/v1/organizations/usage_report/messages"
COST = "/v1/organizations/cost_report"
OPUS = "claude-opus-4-1"


def client(url: str, key: str = MASTER) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"x-api-key": key, "anthropic-version": "2023-06-01"}, timeout=30)


def results(answer: httpx.Response) -> list[dict[str, Any]]:
    assert answer.status_code == 200, answer.text
    return [row for bucket in answer.json()["data"] for row in bucket["results"]]


def refused(answer: httpx.Response, naming: str) -> None:
    assert answer.status_code == 400, answer.text
    error = answer.json()
    assert error["type"] == "error" and error["error"]["type"] == "invalid_request_error"
    assert naming in error["error"]["message"], error


def test_reports_in_the_admin_api_shapes(tmp_path: Path, database: dict[str, Any], fake: AnthropicFake) -> None:
    fake.script(Behavior(input_tokens=100, cache_read_input_tokens=10), Behavior(input_tokens=200))
    with gateways(config(tmp_path, database, fake.url, litellm_params=PRICES)) as [url]:
        made = generate(url)  # workspace "default"
        one = sdk(url, made["key"]).messages.create(
            model=MODEL, max_tokens=8, messages=[{"role": "user", "content": "a"}]
        )
        two = sdk(url, CONFIG_KEY).messages.create(
            model=OPUS, max_tokens=8, messages=[{"role": "user", "content": "b"}]
        )
        rows = spend_rows(url, 2)
        assert len(rows) == 2
        start = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT00:00:00Z")
        with client(url) as admin:
            answer = admin.get(USAGE, params={"starting_at": start})
            body = answer.json()
            assert body["has_more"] is False and body["next_page"] is None
            assert [set(b) for b in body["data"]] == [{"starting_at", "ending_at", "results"}] * len(body["data"])
            [combined] = results(answer)
            assert combined["uncached_input_tokens"] == 300 and combined["cache_read_input_tokens"] == 10
            assert combined["output_tokens"] == one.usage.output_tokens + two.usage.output_tokens
            assert combined["cache_creation"] == {"ephemeral_1h_input_tokens": 0, "ephemeral_5m_input_tokens": 0}
            assert combined["server_tool_use"] == {"web_search_requests": 0}
            assert (combined["api_key_id"], combined["workspace_id"], combined["model"]) == (None, None, None)

            grouped = results(admin.get(USAGE, params={"starting_at": start, "group_by[]": ["api_key_id", "model"]}))
            by_key = {(r["api_key_id"], r["model"]): r["uncached_input_tokens"] for r in grouped}
            assert by_key == {(made["token"], MODEL): 100, ("config:config-alice", OPUS): 200}
            assert all(r["workspace_id"] is None for r in grouped)  # not grouped by workspace

            per_workspace = results(admin.get(USAGE, params={"starting_at": start, "group_by[]": "workspace_id"}))
            assert {r["workspace_id"]: r["uncached_input_tokens"] for r in per_workspace} == {None: 100, "team-a": 200}
            only = results(admin.get(USAGE, params={"starting_at": start, "workspace_ids[]": "team-a"}))
            assert [r["uncached_input_tokens"] for r in only] == [200]
            only = results(admin.get(USAGE, params={"starting_at": start, "api_key_ids[]": made["token"]}))
            assert [r["uncached_input_tokens"] for r in only] == [100]
            only = results(admin.get(USAGE, params={"starting_at": start, "models[]": [OPUS, "claude-haiku-4-5"]}))
            assert [r["uncached_input_tokens"] for r in only] == [200]

            [total] = results(admin.get(COST, params={"starting_at": start}))
            assert total["currency"] == "USD" and total["description"] is None and total["token_type"] is None
            assert float(total["amount"]) == pytest.approx(sum(row["spend"] for row in rows) * 100)  # cents
            split = results(admin.get(COST, params={"starting_at": start, "group_by[]": "workspace_id"}))
            spend = {row["api_key"]: row["spend"] * 100 for row in rows}
            assert {r["workspace_id"]: float(r["amount"]) for r in split} == pytest.approx(
                {None: spend[made["token"]], "team-a": spend["config:config-alice"]}
            )


def test_report_paging_and_refusals(tmp_path: Path, sqlite: dict[str, Any], fake: AnthropicFake) -> None:
    with gateways(config(tmp_path, sqlite, fake.url)) as [url]:
        sdk(url, CONFIG_KEY).messages.create(model=MODEL, max_tokens=8, messages=[{"role": "user", "content": "a"}])
        spend_rows(url, 1)
        start = (datetime.now(UTC) - timedelta(hours=30)).strftime("%Y-%m-%dT%H:00:00Z")
        with client(url) as admin:
            page = admin.get(USAGE, params={"starting_at": start, "bucket_width": "1h", "limit": 10}).json()
            assert len(page["data"]) == 10 and page["has_more"] and page["next_page"]
            buckets = page["data"]
            while page["has_more"]:
                page = admin.get(USAGE, params={"starting_at": start, "bucket_width": "1h", "page": page["next_page"]})
                page = page.json()
                buckets += page["data"]
            assert 30 <= len(buckets) <= 32
            starts = [b["starting_at"] for b in buckets]
            assert starts == sorted(set(starts)) and starts[0] == start
            assert sum(r["uncached_input_tokens"] for b in buckets for r in b["results"]) > 0

            refused(admin.get(USAGE, params={"starting_at": start, "group_by[]": "service_tier"}), "service_tier")
            refused(admin.get(USAGE, params={"starting_at": start, "service_tiers[]": "batch"}), "service_tiers")
            refused(admin.get(USAGE, params={"starting_at": start, "bucket_width": "1h", "limit": 500}), "limit")
            refused(admin.get(USAGE, params={"starting_at": start, "limit": 5000}), "limit")
            refused(admin.get(USAGE, params={"starting_at": "yesterday"}), "starting_at")
            refused(admin.get(USAGE, params={"starting_at": start, "page": "not-a-cursor!"}), "page")
            refused(admin.get(USAGE, params={"starting_at": start, "ending_at": "2000-01-01T00:00:00Z"}), "ending_at")
            refused(admin.get(USAGE, params={"starting_at": start, "bucket_width": "1w"}), "bucket_width")
            refused(admin.get(USAGE, params={}), "starting_at")
            refused(admin.get(COST, params={"starting_at": start, "group_by[]": "description"}), "description")
            refused(admin.get(COST, params={"starting_at": start, "bucket_width": "1h"}), "bucket_width")
        with client(url, CONFIG_KEY) as other:
            assert other.get(COST, params={"starting_at": start}).status_code == 403
        assert httpx.get(f"{url}{USAGE}", params={"starting_at": start}).status_code == 401
