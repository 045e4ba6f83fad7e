"""Tier, effort and backend kind: the routing decision and the hygiene each backend gets (no network)."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.errors import NotFound
from gateway.routing.config import parse_routing
from gateway.routing.model_ids import effort_of, tier_of
from gateway.routing.router import Router
from gateway.settings import ConfigError
from gateway.upstream import hygiene

CONFIG: dict[str, Any] = {
    "model_list": [
        {"model_name": "claude", "litellm_params": {"model": "anthropic/*", "api_key": "sk-a"}},
        {"model_name": "opus-max", "litellm_params": {"model": "anthropic/claude-opus-5-5", "api_key": "sk-a"}},
        {"model_name": "deepseek", "litellm_params": {"model": "deepseek/deepseek-v4-pro", "api_key": "sk-d"}},
        {"model_name": "mimo", "litellm_params": {"model": "mimo/mimo-v2.5-pro", "api_key": "sk-m"}},
        {"model_name": "mimo-auto", "litellm_params": {"model": "mimo_auto/", "api_key": "sk-m"}},
    ],
    "router_settings": {"fallbacks": [{"claude": ["deepseek"]}]},
    "routing": {
        "default": "claude",
        "rules": [
            {"tier": "opus", "effort": ["xhigh", "max"], "group": "opus-max"},
            {"tier": "haiku", "effort": ["low", "none"], "group": "mimo-auto"},
            {"tier": "haiku", "group": "deepseek"},
            {"model": "claude-fable*", "group": "mimo"},
        ],
    },
}
ROUTER = Router(parse_routing(CONFIG, environ={}))


@pytest.mark.parametrize(
    ("model", "tier"),
    [
        ("claude-opus-5-5", "opus"),  # Claude Code 2.1.332's default
        ("claude-sonnet-5-5", "sonnet"),
        ("claude-haiku-5-5", "haiku"),
        ("claude-sonnet-4-5-20250929", "sonnet"),  # dated
        ("claude-3-5-haiku-latest", "haiku"),  # old order
        ("claude-opus-5-5[1m]", "opus"),  # 1M-context suffix
        ("sonnet[1m]", "sonnet"),
        ("opus", "opus"),  # alias
        ("claude-haiku-5-5-gw", "haiku"),  # gateway suffix Claude Code still treats as haiku
        ("us.anthropic.claude-sonnet-4-5-v1:0", "sonnet"),
        ("claude-fable-5-2", None),  # unknown family -> default route
        ("deepseek-chat", None),
        ("gpt-4o", None),
    ],
)
def test_tier_of_claude_code_and_sdk_ids(model: str, tier: str | None) -> None:
    assert tier_of(model) == tier


@pytest.mark.parametrize(
    ("body", "effort"),
    [
        ({"output_config": {"effort": "xhigh"}, "thinking": {"type": "adaptive"}}, "xhigh"),
        ({"output_config": {"effort": "max"}}, "max"),
        ({"thinking": {"type": "adaptive"}}, "medium"),
        ({"thinking": {"type": "enabled", "budget_tokens": 1024}}, "low"),
        ({"thinking": {"type": "enabled", "budget_tokens": 8000}}, "medium"),
        ({"thinking": {"type": "enabled", "budget_tokens": 31999}}, "high"),  # Claude Code on 4.x models
        ({"thinking": {"type": "enabled", "budget_tokens": 40000}}, "xhigh"),
        ({"thinking": {"type": "enabled", "budget_tokens": 100000}}, "max"),
        ({"thinking": {"type": "disabled"}}, None),
        ({}, None),
    ],
)
def test_effort_from_output_config_or_thinking(body: dict[str, Any], effort: str | None) -> None:
    assert effort_of(body) == effort


@pytest.mark.parametrize(
    ("model", "effort", "group", "first_kind"),
    [
        ("claude-opus-5-5", "medium", "claude", "anthropic"),
        ("claude-opus-5-5", "high", "claude", "anthropic"),
        ("claude-opus-5-5", "xhigh", "opus-max", "anthropic"),
        ("claude-opus-5-5", "max", "opus-max", "anthropic"),
        ("claude-sonnet-5-5", "max", "claude", "anthropic"),
        ("claude-haiku-5-5", "low", "mimo-auto", "mimo_auto"),
        ("claude-haiku-5-5", None, "mimo-auto", "mimo_auto"),
        ("claude-haiku-5-5", "medium", "deepseek", "deepseek"),
        ("claude-haiku-5-5", "max", "deepseek", "deepseek"),
        ("claude-fable-5-2", "high", "mimo", "mimo"),
        ("some-other-model", "high", "claude", "anthropic"),
    ],
)
def test_rules_pick_the_group(model: str, effort: str | None, group: str, first_kind: str) -> None:
    body: dict[str, Any] = {"model": model, "max_tokens": 10, "messages": []}
    if effort:
        body["output_config"] = {"effort": effort}
    decision = ROUTER.decide(body)
    assert decision.group == group
    assert decision.candidates[0].kind == first_kind
    assert decision.header().startswith(f"tier={tier_of(model) or '-'}; effort={effort or '-'}; group={group}")


def test_fallback_groups_follow_the_primary() -> None:
    decision = ROUTER.decide({"model": "claude-sonnet-5-5"})
    assert [d.group for d in decision.candidates] == ["claude", "deepseek"]


def test_no_rule_and_no_default_is_a_404() -> None:
    router = Router(parse_routing({"model_list": CONFIG["model_list"], "routing": {"rules": []}}, environ={}))
    with pytest.raises(NotFound, match="claude-opus-5-5 is not served"):
        router.decide({"model": "claude-opus-5-5"})


def _deployment(group: str) -> Any:
    return ROUTER.config.groups[group][0]


BILLING = {"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.332.abc; cc_entrypoint=cli; cch=12345;"}
CLAUDE_CODE_BODY: dict[str, Any] = {
    "model": "claude-haiku-5-5",
    "max_tokens": 128000,
    "stream": True,
    "system": [BILLING, {"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}}],
    "thinking": {"type": "adaptive"},
    "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
    "output_config": {"effort": "xhigh"},
    "messages": [
        {"role": "user", "content": "hi"},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "from deepseek", "signature": ""},
                {"type": "redacted_thinking", "data": "abc"},
                {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "ls"}},
            ],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "README.md"}]},
    ],
}


def test_deepseek_hygiene_clamps_effort_strips_billing_keeps_reasoning() -> None:
    out = hygiene.prepare(CLAUDE_CODE_BODY, _deployment("deepseek"), "xhigh")
    assert out is not None
    assert out["model"] == "deepseek-v4-pro"
    assert out["output_config"] == {"effort": "high"}  # xhigh is not in DeepSeek's vocabulary
    assert [b["text"] for b in out["system"]] == ["You are Claude Code."]
    assert "context_management" not in out
    kinds = [b["type"] for b in out["messages"][1]["content"]]
    assert kinds == ["thinking", "tool_use"]  # reasoning kept for the tool turn, redacted thinking dropped
    assert CLAUDE_CODE_BODY["system"][0] is BILLING  # the client's body is not mutated


def test_deepseek_drops_effort_when_thinking_is_disabled() -> None:
    body = {**CLAUDE_CODE_BODY, "thinking": {"type": "disabled"}}
    out = hygiene.prepare(body, _deployment("deepseek"), "xhigh")
    assert out is not None and "output_config" not in out


@pytest.mark.parametrize(
    ("effort", "model", "thinking"),
    [
        (None, "mimo-v2-flash", "disabled"),
        ("low", "mimo-v2-flash", "disabled"),
        ("medium", "mimo-v2.5", "enabled"),
        ("max", "mimo-v2.5-pro", "enabled"),
    ],
)
def test_mimo_auto_picks_model_and_thinking_from_effort(effort: str | None, model: str, thinking: str) -> None:
    out = hygiene.prepare(CLAUDE_CODE_BODY, _deployment("mimo-auto"), effort)
    assert out is not None
    assert out["model"] == model and out["thinking"]["type"] == thinking
    assert "output_config" not in out  # MiMo has no graded effort


def test_anthropic_gets_the_original_bytes_unless_a_rule_applies() -> None:
    clean = {k: v for k, v in CLAUDE_CODE_BODY.items() if k != "messages"} | {
        "messages": [{"role": "user", "content": "hi"}]
    }
    assert hygiene.prepare(clean, _deployment("claude"), "medium") is None
    out = hygiene.prepare(CLAUDE_CODE_BODY, _deployment("claude"), "medium")
    assert out is not None
    assert [b["type"] for b in out["messages"][1]["content"]] == ["redacted_thinking", "tool_use"]  # unsigned dropped
    assert out["system"][0] == BILLING and out["context_management"]  # everything else untouched for Anthropic
    assert hygiene.betas_for(_deployment("claude"), "a,b") == "a,b"
    assert hygiene.betas_for(_deployment("deepseek"), "a,b") is None


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"model_list": [{"litellm_params": {"model": "anthropic/*"}}]}, "model_list[0].model_name: required"),
        ({"model_list": [{"model_name": "a", "litellm_params": {}}]}, "model_list[0].litellm_params.model: required"),
        (
            {
                "model_list": [
                    {"model_name": "a", "litellm_params": {"model": "deepseek/x", "api_key": "os.environ/NOPE"}}
                ]
            },
            "model_list[0].litellm_params.api_key: environment variable NOPE is not set",
        ),
        (
            {
                "model_list": [{"model_name": "a", "litellm_params": {"model": "anthropic/*"}}],
                "routing": {"rules": [{"group": "b"}]},
            },
            "routing.rules[0].group: 'b' is not a model_name",
        ),
        (
            {
                "model_list": [{"model_name": "a", "litellm_params": {"model": "anthropic/*"}}],
                "routing": {"rules": [{"tier": "gigantic", "group": "a"}]},
            },
            "routing.rules[0].tier: 'gigantic' is not one of",
        ),
        (
            {
                "model_list": [{"model_name": "a", "litellm_params": {"model": "anthropic/*"}}],
                "router_settings": {"fallbacks": [{"a": ["zzz"]}]},
            },
            "router_settings.fallbacks[0]: 'zzz' is not a model_name",
        ),
    ],
)
def test_config_errors_name_the_field(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_routing(doc, environ={})
