"""Anthropic's Admin API usage and cost reports over the spend rows, read with the real SDK and the master key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anthropic
import pytest

from bench.fakes import AnthropicFake, Behavior
from tests.keys.conftest import CONFIG_KEY, MASTER, MODEL, config, gateways, generate, sdk
from tests.keys.test_spend import spend_rows

PRICES = {"input_cost_per_token": 0.001, "output_cost_per_token": 0.002}


def test_usage_and_cost_reports_with_the_sdk(tmp_path: Path, database: dict[str, Any], fake: AnthropicFake) -> None:
    fake.script(Behavior(input_tokens=100, cache_read_input_tokens=10), Behavior(input_tokens=200))
    with gateways(config(tmp_path, database, fake.url, litellm_params=PRICES)) as [url]:
        key = generate(url)["key"]
        one = sdk(url, key).messages.create(model=MODEL, max_tokens=8, messages=[{"role": "user", "content": "a"}])
        two = sdk(url, key).messages.create(
            model="claude-opus-4-1", max_tokens=8, messages=[{"role": "user", "content": "b"}]
        )
        rows = spend_rows(url, 2)
        assert len(rows) == 2
        admin = anthropic.Anthropic(base_url=url, api_key=MASTER, max_retries=0, _strict_response_validation=True)
        start = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT00:00:00Z")

        usage = admin.beta.organization.analytics.usage_report.list(starting_at=start, bucket_width="1d")
        buckets = list(usage)
        assert 1 <= len(buckets) <= 2
        combined = [r for b in buckets for r in b.results]
        assert len(combined) == 1
        assert combined[0].uncached_input_tokens == 300 and combined[0].cache_read_input_tokens == 10
        assert combined[0].output_tokens == one.usage.output_tokens + two.usage.output_tokens
        assert combined[0].requests == 2

        by_model = admin.beta.organization.analytics.usage_report.list(
            starting_at=start, bucket_width="1d", group_by=["model"], models=[MODEL]
        )
        [only] = [r for b in by_model for r in b.results]
        assert only.model == MODEL and only.uncached_input_tokens == 100

        cost = admin.beta.organization.analytics.cost_report.list(starting_at=start, group_by=["model"])
        amounts = {r.model: float(r.amount) for b in cost for r in b.results}
        expected = {row["model"]: row["spend"] * 100 for row in rows}  # fractional cents
        assert amounts == pytest.approx(expected) and all(r.currency == "USD" for b in cost for r in b.results)


def test_report_paging_and_refusals(tmp_path: Path, sqlite: dict[str, Any], fake: AnthropicFake) -> None:
    with gateways(config(tmp_path, sqlite, fake.url)) as [url]:
        sdk(url, CONFIG_KEY).messages.create(model=MODEL, max_tokens=8, messages=[{"role": "user", "content": "a"}])
        spend_rows(url, 1)
        admin = anthropic.Anthropic(base_url=url, api_key=MASTER, max_retries=0, _strict_response_validation=True)
        start = (datetime.now(UTC) - timedelta(hours=30)).strftime("%Y-%m-%dT%H:00:00Z")
        page = admin.beta.organization.analytics.usage_report.list(starting_at=start, bucket_width="1h", limit=10)
        assert len(page.data) == 10 and page.has_more and page.next_page
        every = list(admin.beta.organization.analytics.usage_report.list(starting_at=start, bucket_width="1h"))
        assert 30 <= len(every) <= 32  # the SDK followed next_page to the end
        assert sum(r.requests or 0 for b in every for r in b.results) == 1
        starts = [b.starting_at for b in every]
        assert starts == sorted(set(starts))

        with pytest.raises(anthropic.BadRequestError, match="products"):
            admin.beta.organization.analytics.usage_report.list(starting_at=start, products=["claude_code"])
        with pytest.raises(anthropic.BadRequestError, match="speed"):
            admin.beta.organization.analytics.cost_report.list(starting_at=start, group_by=["speed"])
        with pytest.raises(anthropic.PermissionDeniedError):
            anthropic.Anthropic(
                base_url=url, api_key=CONFIG_KEY, max_retries=0
            ).beta.organization.analytics.usage_report.list(starting_at=start)
