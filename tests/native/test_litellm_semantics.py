"""LiteLLM config semantics users rely on: group names and aliases route, groups share load, conversations stick to
one deployment for the prompt cache, master_key is a key, one model list. Real gateway and fakes where it matters."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import pytest

from bench.fakes import AnthropicFake, Behavior
from gateway.routing.config import Deployment, parse_routing
from gateway.routing.router import Router
from tests.native.conftest import KEY, client, running_gateway

MSG: dict[str, Any] = {"max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}


def _entry(name: str, model: str, base: str, **params: Any) -> dict[str, Any]:
    return {"model_name": name, "litellm_params": {"model": model, "api_base": base, "api_key": "sk-up", **params}}


def _routing_doc() -> dict[str, Any]:
    return {
        "model_list": [
            _entry("claude", "anthropic/*", "http://127.0.0.1:9"),
            _entry("deepseek", "deepseek/deepseek-v4-pro", "http://127.0.0.1:9/anthropic"),
            _entry("mimo", "mimo/mimo-v2.5-pro", "http://127.0.0.1:9/anthropic"),
        ],
        "router_settings": {"model_group_alias": {"fast": "deepseek", "secret": {"model": "mimo", "hidden": True}}},
        "routing": {
            "default": "claude",
            "rules": [{"model": ["deepseek", "fast*", "claude-haiku*"], "group": "mimo"}],
        },
    }


@pytest.mark.parametrize(
    ("model", "group"),
    [
        ("deepseek", "deepseek"),  # 1. an exact model_name beats the rule that also matches it
        ("fast", "deepseek"),  # 2. an alias beats the rule that also matches it
        ("secret", "mimo"),  # hidden aliases route too (they are only left out of the model list)
        ("claude-haiku-5-5", "mimo"),  # 3. rules
        ("claude-opus-5-5", "claude"),  # 4. default
    ],
)
def test_model_selection_order(model: str, group: str) -> None:
    router = Router(parse_routing(_routing_doc(), environ={}))
    assert router.decide({"model": model}).group == group


def test_a_group_name_routes_end_to_end(fake: AnthropicFake, fake2: AnthropicFake) -> None:
    doc = {
        "model_list": [
            _entry("claude", "anthropic/*", fake.url),
            _entry("deepseek", "deepseek/deepseek-v4-pro", f"{fake2.url}/anthropic"),
        ],
        "routing": {"default": "claude"},
    }
    with running_gateway(doc) as url:
        raw = client(url).messages.with_raw_response.create(model="deepseek", **MSG)
    assert raw.headers["x-gateway-route"].endswith("group=deepseek; deployment=deepseek/1")
    assert fake.requests == [] and fake2.requests[0].json["model"] == "deepseek-v4-pro"


# -- load sharing ----------------------------------------------------------------------------------------------------
def _group(strategy: str = "simple-shuffle", **extra: dict[str, Any]) -> Router:
    entries = [
        _entry("g", "anthropic/*", f"http://127.0.0.1:9/{name}", **extra.get(name, {})) for name in ("a", "b", "c")
    ]
    doc = {"model_list": entries, "router_settings": {"routing_strategy": strategy}}
    doc["routing"] = {"prompt_cache_affinity": False}
    return Router(parse_routing(doc, environ={}), rng=random.Random(7))


def _first_choices(router: Router, n: int = 3000) -> Counter[str]:
    decision = router.decide({"model": "claude-opus-5-5"})
    return Counter(router.ordered(decision)[0].id for _ in range(n))


def test_simple_shuffle_shares_by_weight_then_rpm() -> None:
    by_weight = _first_choices(_group(a={"weight": 2}, b={"weight": 1}, c={"weight": 1}))
    assert 0.45 < by_weight["g/1"] / 3000 < 0.55  # 2 / (2 + 1 + 1)
    assert 0.2 < by_weight["g/2"] / 3000 < 0.3
    by_rpm = _first_choices(_group(a={"rpm": 100}, b={"rpm": 300}, c={"rpm": 100}))
    assert 0.55 < by_rpm["g/2"] / 3000 < 0.65  # LiteLLM's simple-shuffle: rpm is the weight when none is given


def test_rpm_and_tpm_limits_put_a_deployment_last() -> None:
    router = _group(a={"rpm": 2, "weight": 100}, b={"tpm": 50}, c={})
    a, b, _c = router.config.groups["g"]
    for _ in range(2):
        router.started(a, 1)
    router.started(b, 60)
    order = router.ordered(router.decide({"model": "x"}))
    assert order[0].id == "g/3" and {d.id for d in order[1:]} == {"g/1", "g/2"}


def test_least_busy_and_latency_based_routing() -> None:
    busy = _group("least-busy")
    a, b, _c = busy.config.groups["g"]
    busy.started(a, 1)
    busy.started(a, 1)
    busy.started(b, 1)
    assert [d.id for d in busy.ordered(busy.decide({"model": "x"}))] == ["g/3", "g/2", "g/1"]
    busy.finished(a)
    busy.finished(a)
    assert busy.ordered(busy.decide({"model": "x"}))[0].id == "g/1"

    timed = _group("latency-based-routing")
    clock = [0.0]
    timed.clock = lambda: clock[0]
    for dep, seconds in ((timed.config.groups["g"][0], 2.0), (timed.config.groups["g"][1], 0.5)):
        started = timed.started(dep, 1)
        clock[0] += seconds
        _succeed(timed, dep, started)
    # g/3 has no sample yet (tried first, as LiteLLM does), then the fastest
    assert [d.id for d in timed.ordered(timed.decide({"model": "x"}))] == ["g/3", "g/2", "g/1"]


def _succeed(router: Router, dep: Deployment, started: float) -> None:
    import asyncio

    asyncio.run(router.succeeded(dep, None, started))


def test_a_group_shares_load_and_fails_over_inside_itself(fake: AnthropicFake, fake2: AnthropicFake) -> None:
    doc = {
        "model_list": [_entry("g", "anthropic/*", fake.url), _entry("g", "anthropic/*", fake2.url)],
        "router_settings": {"cooldown_time": 60},
        "routing": {"prompt_cache_affinity": False},
    }
    with running_gateway(doc) as url:
        sdk = client(url)
        for i in range(30):
            sdk.messages.create(model="claude-opus-5-5", max_tokens=8, messages=[{"role": "user", "content": str(i)}])
        assert min(len(fake.requests), len(fake2.requests)) >= 5  # both deployments served (p of failing < 1e-5)
        fake.default = Behavior(status=529)
        before = len(fake2.requests)
        for i in range(5):
            sdk.messages.create(model="claude-opus-5-5", max_tokens=8, messages=[{"role": "user", "content": str(i)}])
        assert len(fake2.requests) - before == 5  # the failing deployment's requests failed over to its sibling


# -- prompt-cache affinity -------------------------------------------------------------------------------------------
@pytest.fixture
def cache_fakes() -> Iterator[list[AnthropicFake]]:
    with ExitStack() as stack:
        fakes = [stack.enter_context(AnthropicFake(name=f"cache-{i}")) for i in range(3)]
        for fake in fakes:
            fake.prompt_cache = True
        yield fakes


def _conversations(url: str, count: int, turns: int) -> dict[str, int]:
    """``count`` conversations of ``turns`` turns each; the usage totals the upstreams reported."""
    totals: Counter[str] = Counter()
    sdk = client(url)
    tools = [{"name": "Bash", "description": "run a command " * 40, "input_schema": {"type": "object"}}]
    for c in range(count):
        system = f"You are assistant number {c}. " + "Follow the house rules carefully. " * 60
        history: list[dict[str, Any]] = [{"role": "user", "content": f"conversation {c}: start"}]
        for t in range(turns):
            reply = sdk.messages.create(
                model="claude-opus-5-5",
                max_tokens=16,
                system=system,
                tools=tools,
                messages=history,  # type: ignore[arg-type]
            )
            usage = reply.usage
            totals["input"] += usage.input_tokens
            totals["cache_read"] += usage.cache_read_input_tokens or 0
            totals["cache_creation"] += usage.cache_creation_input_tokens or 0
            totals["cache_writes"] += 1 if usage.cache_creation_input_tokens else 0
            history += [{"role": "assistant", "content": "ok"}, {"role": "user", "content": f"turn {t + 1}"}]
    return dict(totals)


def _cache_read_ratio(totals: dict[str, int]) -> float:
    return totals["cache_read"] / (totals["cache_read"] + totals["cache_creation"] + totals["input"])


def test_prompt_cache_affinity_keeps_the_cache_hitting(cache_fakes: list[AnthropicFake]) -> None:
    def doc(affinity: bool) -> dict[str, Any]:
        return {
            "model_list": [_entry("g", "anthropic/*", f.url) for f in cache_fakes],
            "routing": {"prompt_cache_affinity": affinity},
        }

    with running_gateway(doc(True)) as url:
        sticky = _conversations(url, count=12, turns=4)
    for fake in cache_fakes:
        fake.reset()
        fake._prefixes = set()  # a cold cache for the second run
    with running_gateway(doc(False)) as url:
        loose = _conversations(url, count=12, turns=4)
    with_affinity, without = _cache_read_ratio(sticky), _cache_read_ratio(loose)
    print(f"cache-read ratio: with affinity {with_affinity:.3f}, without {without:.3f}; {sticky} vs {loose}")
    # with affinity every turn after the first hits (3 of 4 turns read the prefix); without, a turn hits only if
    # the shuffle happens to pick a deployment that served the conversation before
    assert sticky["cache_writes"] == 12  # one cache write per conversation, then reads only
    assert loose["cache_writes"] > 12
    assert with_affinity > without + 0.1
    assert with_affinity > 0.6


def test_failover_breaks_stickiness_only_when_it_must(cache_fakes: list[AnthropicFake]) -> None:
    doc = {
        "model_list": [_entry("g", "anthropic/*", f.url) for f in cache_fakes],
        "router_settings": {"cooldown_time": 60},
    }
    body: dict[str, Any] = {"model": "claude-opus-5-5", "max_tokens": 8, "system": "same conversation", **{}}
    turns = [{"role": "user", "content": "first message"}]
    with running_gateway(doc) as url:

        def send() -> str:
            r = httpx.post(f"{url}/v1/messages", json={**body, "messages": turns}, headers={"x-api-key": KEY})
            assert r.status_code == 200, r.text
            return r.headers["x-gateway-route"].rsplit("deployment=", 1)[1]

        first = send()
        assert all(send() == first for _ in range(5))  # healthy: every turn on the same deployment
        index = int(first.split("/")[1]) - 1
        cache_fakes[index].default = Behavior(status=529)
        moved = send()
        assert moved != first  # it must: the sticky deployment is overloaded
        cache_fakes[index].default = Behavior()
        assert all(send() == moved for _ in range(5))  # and the conversation stays where its cache now is


# -- master_key, model list ------------------------------------------------------------------------------------------
def test_general_settings_master_key_is_a_gateway_key(fake: AnthropicFake) -> None:
    doc = {
        "model_list": [_entry("main", "anthropic/*", fake.url)],
        "general_settings": {"master_key": "sk-litellm-master-0123456789"},
    }
    with running_gateway(doc, keyed=False) as url:
        anonymous = httpx.post(f"{url}/v1/messages", json={"model": "claude-opus-5-5", **MSG})
        master = client(url, key="sk-litellm-master-0123456789").messages.create(model="claude-opus-5-5", **MSG)
    assert anonymous.status_code == 401 and anonymous.json()["error"]["type"] == "authentication_error"
    assert master.content[0].text == "Hello from anthropic-fake"  # type: ignore[union-attr]
    assert "sk-litellm-master" not in str(fake.requests[0].headers)  # a gateway key is never forwarded


def test_one_model_list_for_models_retrieve_and_bootstrap() -> None:
    doc = {**_routing_doc(), "routing": {"rules": [{"tier": "haiku", "group": "mimo"}]}}  # no default
    with running_gateway(doc) as url:
        sdk = client(url)
        listed = [m.id for m in sdk.models.list()]
        boot = httpx.get(f"{url}/api/claude_cli/bootstrap", headers={"x-api-key": KEY}).json()
        retrieved = sdk.models.retrieve("fast")
        haiku = sdk.models.retrieve("claude-haiku-9-9")  # not listed, but it routes (tier rule)
        missing = httpx.get(f"{url}/v1/models/claude-opus-5-5", headers={"x-api-key": KEY})
    # the routed Claude ids, then the groups with a model of their own and the visible aliases; `claude` (anthropic/*
    # forwards the client's id) and the hidden alias are not models of their own
    assert listed == ["claude-haiku-5-5", "deepseek", "mimo", "fast"]
    assert [o["model"] for o in boot["additional_model_options"]] == listed
    assert retrieved.id == "fast" and haiku.id == "claude-haiku-9-9"
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found_error"
