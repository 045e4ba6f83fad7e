"""Cooldowns shared through the machine's real Redis (127.0.0.1:6379): one gateway's 429 spares the others."""

from __future__ import annotations

import uuid
from typing import Any

from redis import asyncio as redis_asyncio

from bench.fakes import AnthropicFake, Behavior
from gateway.routing.config import parse_routing
from gateway.routing.router import Router
from tests.native.conftest import client, running_gateway

REDIS_URL = "redis://127.0.0.1:6379/0"


def _doc(primary: str, backup: str, group_suffix: str) -> dict[str, Any]:
    return {
        "model_list": [
            {
                "model_name": f"main-{group_suffix}",
                "litellm_params": {"model": "anthropic/*", "api_base": primary, "api_key": "k"},
            },
            {
                "model_name": f"backup-{group_suffix}",
                "litellm_params": {"model": "anthropic/*", "api_base": backup, "api_key": "k"},
            },
        ],
        "router_settings": {
            "redis_url": REDIS_URL,
            "cooldown_time": 30,
            "fallbacks": [{f"main-{group_suffix}": [f"backup-{group_suffix}"]}],
        },
        "routing": {"default": f"main-{group_suffix}"},
    }


async def test_a_cooldown_set_by_one_router_is_seen_by_another() -> None:
    suffix = uuid.uuid4().hex[:8]  # the Redis server is shared: keys of this test only
    config = parse_routing(_doc("http://127.0.0.1:9", "http://127.0.0.1:9", suffix), environ={})
    redis = redis_asyncio.from_url(REDIS_URL)
    try:
        first, second = Router(config, redis=redis), Router(config, redis=redis)
        decision = second.decide({"model": "claude-opus-5-5"})
        await first.failed(decision.candidates[0], retry_after=30)
        assert second.ordered(decision)[0].id == f"main-{suffix}/1"  # not synced yet
        await second.sync(decision)
        assert [d.id for d in second.ordered(decision)] == [f"backup-{suffix}/1", f"main-{suffix}/1"]
        ttl = await redis.pttl(f"litellm-gateway:cooldown:main-{suffix}/1")
        assert 25_000 < ttl <= 30_000
        await first.succeeded(decision.candidates[0])
        assert await redis.exists(f"litellm-gateway:cooldown:main-{suffix}/1") == 0
    finally:
        await redis.aclose()


def test_two_gateways_share_the_cooldown(fake: AnthropicFake, fake2: AnthropicFake) -> None:
    suffix = uuid.uuid4().hex[:8]
    fake.script(Behavior(status=429, retry_after=30))
    doc = _doc(fake.url, fake2.url, suffix)
    with running_gateway(doc) as url_a, running_gateway(doc) as url_b:
        client(url_a).messages.create(
            model="claude-opus-5-5", max_tokens=8, messages=[{"role": "user", "content": "hi"}]
        )
        client(url_b).messages.create(
            model="claude-opus-5-5", max_tokens=8, messages=[{"role": "user", "content": "hi"}]
        )
    assert len(fake.requests) == 1  # gateway B never tried the primary gateway A saw rate limited
    assert len(fake2.requests) == 2


def test_redis_down_does_not_break_routing(fake: AnthropicFake) -> None:
    doc = _doc(fake.url, fake.url, uuid.uuid4().hex[:8])
    doc["router_settings"]["redis_url"] = "redis://127.0.0.1:1/0"  # nothing listens there
    with running_gateway(doc) as url:
        message = client(url).messages.create(
            model="claude-opus-5-5", max_tokens=8, messages=[{"role": "user", "content": "hi"}]
        )
    assert message.content[0].type == "text"
