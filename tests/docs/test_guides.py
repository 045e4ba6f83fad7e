"""The guides under docs/ cannot rot: the configuration reference is regenerated and compared, every shell block
marked ``sh offline`` is executed (in a scratch directory, with no credentials in the environment, so nothing leaves
the machine), and what the Claude Code and Claude Desktop guides say the gateway answers is checked against a real
gateway process and a fake Anthropic upstream on loopback."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from bench.fakes import AnthropicFake
from codegen import config_reference
from tests.gateway_process import gateway_process

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
GUIDES = sorted(p for p in DOCS.glob("*.md"))
BLOCK = re.compile(r"^```sh offline\n(.*?)^```", re.M | re.S)
GATEWAY_KEY = "sk-gw-docs-test-0123456789"
OWN_KEY = "sk-ant-own-credential-for-docs"


def test_configuration_reference_is_generated_from_the_schema() -> None:
    assert (DOCS / "configuration.md").read_text(encoding="utf-8") == config_reference.render(), (
        "docs/configuration.md is stale: run python -m codegen.config_reference"
    )


def _offline_blocks() -> list[tuple[str, str]]:
    return [
        (f"{path.name}#{index}", block)
        for path in GUIDES
        for index, block in enumerate(BLOCK.findall(path.read_text(encoding="utf-8")), 1)
    ]


def test_the_guides_have_offline_blocks() -> None:
    names = {name.split("#")[0] for name, _block in _offline_blocks()}
    assert {"claude-code.md", "routing.md", "troubleshooting.md"} <= names


@pytest.mark.parametrize(("name", "block"), _offline_blocks(), ids=[n for n, _b in _offline_blocks()])
def test_offline_shell_block_runs(name: str, block: str, tmp_path: Path) -> None:
    env = {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "LANG": "C.UTF-8",
    }  # no ANTHROPIC_API_KEY, no GATEWAY_KEY: doctor probes nothing that would leave the machine
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"{name}:\n{block}\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr


def test_readme_and_index_name_only_guides_that_exist() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8") + (DOCS / "index.md").read_text(encoding="utf-8")
    named = set(re.findall(r"docs/([\w/-]+\.md)", text)) | set(re.findall(r"`([\w-]+\.md)`", text))
    assert named
    for name in named:
        assert (DOCS / name).exists() or (ROOT / name).exists(), name


def test_gateway_key_and_own_credential_together_and_desktops_checks(tmp_path: Path) -> None:
    """docs/claude-code.md: the gateway key as Bearer authenticates and stays at the gateway, the own key goes to
    Anthropic. docs/claude-desktop.md: /v1/models in Anthropic's list shape, a max_tokens:1 probe, both headers."""
    with AnthropicFake(name="anthropic", validate=False) as fake:
        config = tmp_path / "gateway.yaml"
        config.write_text(
            "gateway: {api_keys: [{key: os.environ/GATEWAY_KEY, name: me}]}\n"
            "model_list: [{model_name: anthropic, litellm_params: "
            f'{{model: "anthropic/*", api_base: "{fake.url}"}}}}]\n'
            "routing: {default: anthropic}\nstorage: {database_url: 'sqlite+aiosqlite:///"
            f"{tmp_path / 'gw.db'}'}}\n"
        )
        body = {"model": "claude-haiku-4-5", "max_tokens": 1, "messages": [{"role": "user", "content": "ping"}]}
        with gateway_process(config, {"GATEWAY_KEY": GATEWAY_KEY}, log_file=tmp_path / "gw.log") as (_proc, url):
            both = httpx.post(
                f"{url}/v1/messages",
                json=body,
                headers={
                    "authorization": f"Bearer {GATEWAY_KEY}",
                    "x-api-key": OWN_KEY,
                    "anthropic-version": "2023-06-01",
                },
            )
            assert both.status_code == 200, both.text
            sent = fake.requests[-1]
            assert sent.headers.get("x-api-key") == OWN_KEY
            assert GATEWAY_KEY not in str(sent.headers)
            # the own credential alone is not a gateway key: 401 from the gateway, nothing sent upstream
            count = len(fake.requests)
            alone = httpx.post(f"{url}/v1/messages", json=body, headers={"x-api-key": OWN_KEY})
            assert alone.status_code == 401 and alone.json()["error"]["type"] == "authentication_error"
            assert len(fake.requests) == count
            # Desktop: bearer or x-api-key; /v1/models in Anthropic's list shape with claude ids
            for headers in ({"authorization": f"Bearer {GATEWAY_KEY}"}, {"x-api-key": GATEWAY_KEY}):
                models = httpx.get(f"{url}/v1/models", headers=headers)
                assert models.status_code == 200
                page = models.json()
                assert {"data", "has_more", "first_id", "last_id"} <= set(page)
                assert page["data"][0]["id"].startswith("claude-")
                assert {"id", "type", "display_name", "created_at"} <= set(page["data"][0])
            assert "x-gateway-route" in both.headers


PYTHON_BLOCK = re.compile(r"^```python gateway\n(.*?)^```", re.M | re.S)


def test_python_blocks_run_against_a_gateway(tmp_path: Path) -> None:
    """``python gateway`` blocks (docs/sdk.md) run in order, as one program, against a real gateway whose every model
    id goes to a fake on loopback; ``http://localhost:4000`` becomes that gateway's address."""
    blocks = [block for path in GUIDES for block in PYTHON_BLOCK.findall(path.read_text(encoding="utf-8"))]
    assert len(blocks) >= 2
    with AnthropicFake(name="docs-model", validate=False) as fake:
        config = tmp_path / "gateway.yaml"
        config.write_text(
            "gateway: {api_keys: [{key: os.environ/GATEWAY_KEY, name: me}]}\n"
            f'model_list: [{{model_name: f, litellm_params: {{model: "anthropic/*", api_base: "{fake.url}", '
            "api_key: k}}]\nrouting: {default: f}\n"
            f"storage: {{database_url: 'sqlite+aiosqlite:///{tmp_path / 'gw.db'}'}}\n"
        )
        with gateway_process(config, {"GATEWAY_KEY": GATEWAY_KEY}, log_file=tmp_path / "gw.log") as (_proc, url):
            program = f"GATEWAY_KEY = {GATEWAY_KEY!r}\n" + "\n".join(blocks).replace("http://localhost:4000", url)
            result = subprocess.run(
                [sys.executable, "-c", program], capture_output=True, text=True, timeout=120, cwd=tmp_path
            )
    assert result.returncode == 0, program + "\n" + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "Hello from docs-model"
    assert "user.message" in lines
