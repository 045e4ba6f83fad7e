"""Config that cannot be wrong silently: `litellm-gateway check-config` (the real console script) refuses typos with
the field path and the known keys, refuses LiteLLM-only sections by name, checks provider prefixes, and warns when
nothing can be routed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gateway.routing.config import parse_routing
from gateway.settings import ConfigError, settings_from_mapping

CLI = str(Path(sys.executable).with_name("litellm-gateway"))
GOOD = """
model_list:
  - {model_name: claude, litellm_params: {model: "anthropic/*"}}
  - {model_name: deepseek, litellm_params: {model: deepseek/deepseek-v4-pro, api_key: sk-x}}
router_settings: {fallbacks: [{claude: [deepseek]}], num_retries: 1}
routing:
  default: claude
  rules:
    - {tier: haiku, group: deepseek}
"""


def _check(tmp_path: Path, text: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "config.yaml"
    config.write_text(text, encoding="utf-8")
    return subprocess.run([CLI, "check-config", "--config", str(config)], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD.replace("routing:", "routng:"), "routng: unknown section (known: gateway, model_list, router_settings"),
        (GOOD.replace("  rules:", "  rule:"), "routing.rule: unknown key (known: default, rules, models"),
        (GOOD.replace("  default:", "  defualt:"), "routing.defualt: unknown key (known: default, rules"),
        (
            GOOD.replace("api_key: sk-x", "apibase: http://127.0.0.1:9, api_key: sk-x"),
            "model_list[1].litellm_params.apibase: unknown key (known: ",
        ),
        (
            GOOD.replace("num_retries: 1", "cooldown: 10"),
            "router_settings.cooldown: unknown key (known: fallbacks, cooldown_time, allowed_fails",
        ),
        (
            GOOD + "litellm_settings: {drop_params: true}\n",
            "litellm_settings: a LiteLLM proxy section this gateway does not implement",
        ),
        (
            GOOD + "general_settings: {master_key: sk-1234567890abcdef, database_url: postgres://x}\n",
            "general_settings.database_url: a LiteLLM proxy setting this gateway does not implement",
        ),
        (
            GOOD.replace("deepseek/deepseek-v4-pro", "deepsek/deepseek-v4-pro"),
            "model_list[1].litellm_params.model: unknown provider prefix 'deepsek'",
        ),
        (
            GOOD.replace("num_retries: 1", "routing_strategy: round-robin"),
            "router_settings.routing_strategy: Input should be 'simple-shuffle', 'least-busy' or",
        ),
    ],
)
def test_typos_are_errors_that_name_the_field(tmp_path: Path, text: str, message: str) -> None:
    out = _check(tmp_path, text)
    assert out.returncode == 2, out.stdout
    assert message in out.stderr, out.stderr


def test_listed_models_must_route() -> None:
    doc = {
        "model_list": [{"model_name": "a", "litellm_params": {"model": "anthropic/*"}}],
        "routing": {"rules": [{"tier": "opus", "group": "a"}], "models": [{"id": "claude-opus-5-5"}, {"id": "gpt-x"}]},
    }
    doc["model_list"].append({"model_name": "b", "litellm_params": {"model": "anthropic/*"}})
    with pytest.raises(ConfigError, match=r"routing.models\[1\].id: 'gpt-x' does not route"):
        parse_routing(doc, environ={})


def test_a_good_config_reports_strategy_and_worst_case_attempts(tmp_path: Path) -> None:
    out = _check(tmp_path, GOOD)
    assert out.returncode == 0, out.stderr
    assert "strategy simple-shuffle, num_retries 1, at most 4 upstream attempt(s) per request" in out.stdout
    assert "warning" not in out.stdout


@pytest.mark.parametrize(
    ("text", "warning"),
    [
        ("model_list: []\n", "warning: model_list is empty: nothing can be routed"),
        (
            "model_list:\n  - {model_name: a, litellm_params: {model: deepseek/x, api_key: k}}\n"
            "  - {model_name: b, litellm_params: {model: deepseek/y, api_key: k}}\n",
            "warning: no routing.default and no rule for claude-opus-5-5, claude-sonnet-5-5, claude-haiku-5-5",
        ),
    ],
)
def test_check_config_warns_when_nothing_routes(tmp_path: Path, text: str, warning: str) -> None:
    out = _check(tmp_path, text)
    assert out.returncode == 0, out.stderr
    assert warning in out.stdout


def test_master_key_follows_the_key_rules() -> None:
    with pytest.raises(ConfigError, match=r"general_settings\.master_key: must be at least 16 characters"):
        settings_from_mapping({"general_settings": {"master_key": "sk-1234"}})
    settings = settings_from_mapping({"general_settings": {"master_key": "os.environ/MK"}}, environ={"MK": "m" * 20})
    assert [(k.name, k.workspace) for k in settings.api_keys] == [("master_key", "default")]
    assert not settings.local_mode
