"""Enforcement on real gateway processes: budgets (429 billing_error, x-should-retry: false, retry-after at the
window's reset), rpm and tpm (429 rate_limit_error, retry-after), the anthropic-ratelimit-* headers and
/api/oauth/usage; shared through Redis by two processes."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anthropic
import httpx
import pytest

from bench.fakes import AnthropicFake, Behavior
from gateway.keys.synced import SYNC_SECONDS, slice_of
from tests.keys.conftest import MODEL, admin, ask, config, gateways, generate, sdk

PRICES = {"input_cost_per_token": 0.001, "output_cost_per_token": 0.001}
BODY = {"model": MODEL, "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}


def post(url: str, key: str) -> httpx.Response:
    return httpx.post(f"{url}/v1/messages", headers={"x-api-key": key, "anthropic-version": "2023-06-01"}, json=BODY)


def refused_within(url: str, key: str, seconds: float = 3.0) -> httpx.Response:
    """The first refusal of ``key`` within ``seconds`` (spend reaches the counters after the call: about a ms)."""
    deadline = time.monotonic() + seconds
    while True:
        answer = post(url, key)
        if answer.status_code != 200 or time.monotonic() > deadline:
            return answer
        time.sleep(0.05)


def away_from_a_minute_boundary() -> None:
    """rpm/tpm count per calendar minute: start a test at least 10 s before the next one."""
    if time.time() % 60 > 50:
        time.sleep(61 - time.time() % 60)


def test_over_budget_is_a_billing_error_until_the_reset(
    tmp_path: Path, database: dict[str, Any], fake: AnthropicFake
) -> None:
    fake.default = Behavior(input_tokens=20)  # each call: 20 input + a few output tokens at $0.001 = over $0.02
    with gateways(config(tmp_path, database, fake.url, litellm_params=PRICES)) as [url]:
        made = generate(url, max_budget=0.02, budget_duration="1d")
        first = post(url, made["key"])
        assert first.status_code == 200
        assert first.headers["anthropic-ratelimit-unified-status"] == "allowed"
        assert first.headers["anthropic-ratelimit-unified-representative-claim"] == "seven_day"
        assert float(first.headers["anthropic-ratelimit-unified-7d-utilization"]) == 0.0
        refused = refused_within(url, made["key"])
        assert refused.status_code == 429, refused.text
        assert refused.json()["error"]["type"] == "billing_error"
        assert refused.headers["x-should-retry"] == "false"
        assert refused.headers["anthropic-ratelimit-unified-status"] == "rejected"
        reset = int(refused.headers["anthropic-ratelimit-unified-reset"])
        retry_after = int(refused.headers["retry-after"])
        assert abs(time.time() + retry_after - reset) <= 2 and 0 < retry_after <= 86400
        budget_reset = made["budget_reset_at"]
        assert abs(datetime.fromisoformat(budget_reset.replace("Z", "+00:00")).timestamp() - reset) <= 1
        with pytest.raises(anthropic.APIStatusError) as caught:  # the SDK surfaces it, and does not retry it
            anthropic.Anthropic(base_url=url, api_key=made["key"], max_retries=3).messages.create(**BODY)
        assert caught.value.status_code == 429 and caught.value.body["error"]["type"] == "billing_error"

        usage = httpx.get(f"{url}/api/oauth/usage", headers={"authorization": f"Bearer {made['key']}"}).json()
        assert usage["seven_day"]["utilization"] == 100.0 and usage["five_hour"] is None
        assert usage["gateway_spend"]["spend"] >= 0.02

        with admin(url) as client:  # raising the budget lets the key work again
            client.post("/key/update", json={"key": made["token"], "max_budget": 100}).raise_for_status()
        answer = post(url, made["key"])
        assert answer.status_code == 200
        assert float(answer.headers["anthropic-ratelimit-unified-7d-utilization"]) < 0.01


def test_rpm_limit(tmp_path: Path, sqlite: dict[str, Any], fake: AnthropicFake) -> None:
    with gateways(config(tmp_path, sqlite, fake.url)) as [url]:
        made = generate(url, rpm_limit=3)
        away_from_a_minute_boundary()
        remaining = [post(url, made["key"]).headers["anthropic-ratelimit-requests-remaining"] for _ in range(3)]
        assert remaining == ["2", "1", "0"]
        refused = post(url, made["key"])
        assert refused.status_code == 429 and refused.json()["error"]["type"] == "rate_limit_error"
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert "x-should-retry" not in refused.headers  # a rate limit is worth retrying after retry-after
        other = generate(url, rpm_limit=3)
        assert post(url, other["key"]).status_code == 200  # limits are per key


def test_tpm_limit(tmp_path: Path, sqlite: dict[str, Any], fake: AnthropicFake) -> None:
    fake.default = Behavior(input_tokens=40)
    with gateways(config(tmp_path, sqlite, fake.url)) as [url]:
        made = generate(url, tpm_limit=50)
        away_from_a_minute_boundary()
        assert post(url, made["key"]).status_code == 200  # 0 tokens so far this minute
        refused = refused_within(url, made["key"])
        assert refused.status_code == 429 and refused.json()["error"]["type"] == "rate_limit_error"
        assert refused.headers["anthropic-ratelimit-tokens-remaining"] == "0"


def test_model_list(tmp_path: Path, sqlite: dict[str, Any], fake: AnthropicFake) -> None:
    with gateways(config(tmp_path, sqlite, fake.url)) as [url]:
        by_group = generate(url, models=["main"])  # a routing group allows every model routed to it
        assert ask(url, by_group["key"]).content
        other = generate(url, models=["claude-opus-4-1"])
        with pytest.raises(anthropic.PermissionDeniedError):
            ask(url, other["key"])
        assert (
            sdk(url, other["key"])
            .messages.create(model="claude-opus-4-1", max_tokens=8, messages=[{"role": "user", "content": "x"}])
            .content
        )


def test_two_processes_share_budget_and_rpm_through_redis(
    tmp_path: Path, database: dict[str, Any], fake: AnthropicFake
) -> None:
    fake.default = Behavior(input_tokens=20)
    path = config(tmp_path, database, fake.url, redis=True, litellm_params=PRICES)
    with gateways(path, count=2) as [url_a, url_b]:
        budget = generate(url_a, max_budget=0.02, budget_duration="1h")
        usage = httpx.get(f"{url_b}/api/oauth/usage", headers={"x-api-key": budget["key"]})
        assert usage.json()["five_hour"]["utilization"] == 0.0  # B has read the key's spend (nothing yet)
        assert post(url_a, budget["key"]).status_code == 200  # spent through A ...
        spent = time.monotonic()
        refused = refused_within(url_b, budget["key"])  # ... enforced on B within the stated sync (2 x 0.1 s)
        assert refused.status_code == 429 and refused.json()["error"]["type"] == "billing_error"
        assert time.monotonic() - spent < 2 * SYNC_SECONDS + 1.5  # generous: two shared, loaded cores
        assert refused.headers["anthropic-ratelimit-unified-representative-claim"] == "five_hour"  # a 1 h window

        limited = generate(url_b, rpm_limit=4)
        away_from_a_minute_boundary()
        answers = [post(url, limited["key"]).status_code for url in (url_a, url_b) * 4]
        # each process admits only from what it reserved in Redis (a slice of 1 here), so never more than 4; the
        # order of the refusals depends on which process reserved first, the count does not
        assert answers.count(200) == 4 and set(answers) == {200, 429}, answers


def test_an_rpm_limit_holds_across_two_processes_within_the_stated_tolerance(
    tmp_path: Path, sqlite: dict[str, Any], fake: AnthropicFake
) -> None:
    """Concurrent requests through both processes: at most rpm_limit admitted, and at least rpm_limit minus one
    reserved slice per process (gateway.keys.synced)."""
    limit, per_process = 40, 40
    with gateways(config(tmp_path, sqlite, fake.url, redis=True), count=2) as urls:
        key = generate(urls[0], rpm_limit=limit)["key"]
        away_from_a_minute_boundary()

        def burst(url: str) -> list[int]:
            with httpx.Client(timeout=30) as client:
                headers = {"x-api-key": key, "anthropic-version": "2023-06-01"}
                return [client.post(f"{url}/v1/messages", headers=headers, json=BODY).status_code for _ in range(10)]

        with ThreadPoolExecutor(8) as pool:
            answers = [
                c for batch in pool.map(burst, [urls[n % 2] for n in range(2 * per_process // 10)]) for c in batch
            ]
    admitted = answers.count(200)
    assert set(answers) == {200, 429}
    assert limit - 2 * slice_of(limit) <= admitted <= limit, admitted


def test_without_redis_each_process_counts_alone(tmp_path: Path, sqlite: dict[str, Any], fake: AnthropicFake) -> None:
    """What the README states: without Redis an rpm limit holds per process."""
    with gateways(config(tmp_path, sqlite, fake.url), count=2) as [url_a, url_b]:
        made = generate(url_a, rpm_limit=2)
        away_from_a_minute_boundary()
        answers = [post(url, made["key"]).status_code for url in (url_a, url_a, url_b, url_b, url_a)]
        assert answers == [200, 200, 200, 200, 429]


def test_five_hour_windows_and_the_window_reset(tmp_path: Path, sqlite: dict[str, Any], fake: AnthropicFake) -> None:
    fake.default = Behavior(input_tokens=20)
    with gateways(config(tmp_path, sqlite, fake.url, litellm_params=PRICES)) as [url]:
        made = generate(url, max_budget=0.02, budget_duration="3s")
        assert post(url, made["key"]).headers["anthropic-ratelimit-unified-representative-claim"] == "five_hour"
        refused = refused_within(url, made["key"], seconds=2)
        if refused.status_code == 200:
            pytest.fail("the budget was not enforced within its 3 s window")
        assert 1 <= int(refused.headers["retry-after"]) <= 3
        time.sleep(int(refused.headers["retry-after"]) + 0.2)
        assert post(url, made["key"]).status_code == 200  # a new window: the budget is back
        usage = httpx.get(f"{url}/api/oauth/usage", headers={"x-api-key": made["key"]}).json()
        assert usage["five_hour"]["resets_at"] is not None and usage["seven_day"] is None
        assert datetime.fromisoformat(usage["five_hour"]["resets_at"].replace("Z", "+00:00")) > datetime.now(UTC)
