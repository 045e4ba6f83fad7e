"""`litellm-gateway routes explain` prints the decision without sending anything; routing errors stop start-up."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CLI = str(Path(sys.executable).with_name("litellm-gateway"))
CONFIG = """
model_list:
  - {model_name: claude, litellm_params: {model: "anthropic/*"}}
  - {model_name: deepseek, litellm_params: {model: deepseek/deepseek-v4-pro, api_key: sk-x}}
  - {model_name: mimo-auto, litellm_params: {model: mimo_auto/, api_key: sk-y}}
router_settings: {fallbacks: [{claude: [deepseek]}]}
routing:
  default: claude
  rules:
    - {tier: haiku, effort: [low, none], group: mimo-auto}
    - {tier: haiku, group: deepseek}
"""


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=60)


def test_explain_opus_high_goes_to_anthropic_with_deepseek_failover(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(CONFIG)
    out = _run("routes", "explain", "--config", str(config), "--model", "claude-opus-5-5", "--effort", "high")
    assert out.returncode == 0, out.stderr
    assert "tier opus, effort high" in out.stdout
    assert (
        "1. claude/1 [anthropic] https://api.anthropic.com model=the client's model id (client's own credential)"
        in out.stdout
    )
    assert "2. deepseek/1 [deepseek]" in out.stdout
    assert "sk-x" not in out.stdout


def test_explain_haiku_low_budget_goes_to_mimo_auto_flash(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(CONFIG)
    out = _run(
        "routes", "explain", "--config", str(config), "--model", "claude-haiku-5-5", "--thinking", "enabled:1024"
    )
    assert "effort low" in out.stdout
    assert "mimo-v2-flash (thinking off, from the effort table)" in out.stdout


def test_a_routing_error_stops_start_up_with_the_field_path(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(
        "model_list:\n  - {model_name: a, litellm_params: {model: deepseek/x, api_key: os.environ/NOPE_KEY_X}}\n"
    )
    out = _run("serve", "--config", str(config))
    assert out.returncode == 2
    assert "model_list[0].litellm_params.api_key: environment variable NOPE_KEY_X is not set" in out.stderr
