"""A slim install (``pip install litellm-gateway``, no ``[litellm]`` extra): ``check-config`` refuses a translated
backend naming the install command, and an Anthropic-wire config starts and serves Messages without litellm.

The slim install is built from this venv, not downloaded: a directory of symlinks to exactly the files (their RECORD)
of the distributions that ``litellm-gateway``'s own requirements reach, extras of those requirements included, the
``[litellm]`` and ``[test]`` extras not. The gateway runs in it with ``python -S`` (no site-packages) and
``PYTHONPATH`` = the source tree + that directory, so a module of any other distribution (litellm, tiktoken,
tokenizers, fastapi, ...) is absent for it as in a fresh venv — a missing core requirement fails these tests too.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import anthropic
import httpx
import pytest
import yaml
from packaging.requirements import Requirement

from bench.fakes import AnthropicFake
from gateway.extras import LITELLM_INSTALL
from tests.gateway_process import gateway_process

REPO = Path(__file__).resolve().parents[2]
KEY = "sk-gw-slim-test-0123456789"
ROOT = "litellm-gateway"


def _name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def slim_distributions() -> dict[str, metadata.Distribution]:
    """The installed distributions ``litellm-gateway`` requires, transitively, without its own extras."""
    found: dict[str, metadata.Distribution] = {}
    pending: list[tuple[str, frozenset[str]]] = [(ROOT, frozenset())]
    while pending:
        name, extras = pending.pop()
        dist = metadata.distribution(name)
        seen = _name(dist.metadata["Name"])
        found[seen] = dist
        for line in dist.requires or []:
            req = Requirement(line)
            if req.marker is not None and not any(req.marker.evaluate({"extra": e}) for e in {"", *extras}):
                continue
            if _name(req.name) not in found or req.extras:
                pending.append((req.name, frozenset(req.extras)))
    return found


@pytest.fixture(scope="module")
def slim_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = tmp_path_factory.mktemp("slim-site")
    for dist in slim_distributions().values():
        base = Path(str(dist.locate_file("")))
        for file in dist.files or []:
            if file.parts[0] == ".." or file.parts[0] == "__editable__" or "__pycache__" in file.parts:
                continue
            target = site / file
            source = base / file
            if source.exists() and not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                target.symlink_to(source)
    return site


def slim_command() -> list[str]:
    return [sys.executable, "-S", "-m", "gateway.cli"]


def slim_env(site: Path, tmp_path: Path) -> dict[str, str]:
    return {"PYTHONPATH": f"{REPO}{os.pathsep}{site}", "XDG_DATA_HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path)}


def write_config(tmp_path: Path, model_list: list[dict[str, Any]]) -> Path:
    doc = {
        "gateway": {"api_keys": [{"key": KEY, "name": "t", "workspace": "w"}]},
        "model_list": model_list,
        "routing": {"default": model_list[0]["model_name"]},
        "storage": {"database_url": f"sqlite+aiosqlite:///{tmp_path / 'slim.db'}"},
    }
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def slim_cli(
    site: Path, tmp_path: Path, config: Path, command: str = "check-config"
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*slim_command(), command, "--config", str(config)],
        cwd=tmp_path,
        env={**os.environ, **slim_env(site, tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_slim_set_lacks_litellm_and_the_test_extra_has_it(slim_site: Path) -> None:
    slim = slim_distributions()
    assert {"litellm", "tiktoken", "tokenizers", "fastapi", "soundfile", "backoff"}.isdisjoint(slim)
    assert {"connexion", "uvicorn", "aiohttp", "pydantic", "sqlalchemy"} <= set(slim)
    assert metadata.version("litellm")  # the [test] extra installs [litellm]
    assert not (slim_site / "litellm").exists() and (slim_site / "aiohttp").is_dir()


def test_check_config_and_serve_name_the_install_command_for_a_translated_backend(
    slim_site: Path, tmp_path: Path
) -> None:
    params = {"model": "openai/my-model", "api_base": "http://127.0.0.1:9/v1", "api_key": "none"}
    config = write_config(tmp_path, [{"model_name": "local", "litellm_params": params}])
    for command in ("check-config", "serve"):
        result = slim_cli(slim_site, tmp_path, config, command)
        assert result.returncode == 2, result.stdout + result.stderr
        assert "config error: model_list[0].litellm_params.model ('openai/my-model')" in result.stderr
        assert LITELLM_INSTALL in result.stderr and "Traceback" not in result.stderr


@pytest.fixture
def fake() -> Iterator[AnthropicFake]:
    with AnthropicFake() as server:
        yield server


def test_an_anthropic_wire_config_serves_without_litellm(slim_site: Path, tmp_path: Path, fake: AnthropicFake) -> None:
    deepseek = {"model": "deepseek/deepseek-v4-pro", "api_base": f"{fake.url}/anthropic", "api_key": "sk-ds"}
    model_list = [
        {"model_name": "claude", "litellm_params": {"model": "anthropic/*", "api_base": fake.url, "api_key": "sk-a"}},
        {"model_name": "ds", "litellm_params": deepseek},
    ]
    config = write_config(tmp_path, model_list)
    checked = slim_cli(slim_site, tmp_path, config)
    assert checked.returncode == 0, checked.stderr
    assert "config OK" in checked.stdout
    log = tmp_path / "gateway.log"
    with gateway_process(config, slim_env(slim_site, tmp_path), log_file=log, command=slim_command()) as (_, url):
        client = anthropic.Anthropic(base_url=url, api_key=KEY, max_retries=0)
        message = client.messages.create(
            model="claude-sonnet-4-5", max_tokens=32, messages=[{"role": "user", "content": "hi"}]
        )
        assert message.content[0].type == "text" and message.content[0].text == "Hello from anthropic-fake"
        with client.messages.stream(
            model="claude-sonnet-4-5", max_tokens=32, messages=[{"role": "user", "content": "hi"}]
        ) as stream:
            assert stream.get_final_text() == "Hello from anthropic-fake"
        body = {"model": "ds", "messages": [{"role": "user", "content": "Count these words, please."}]}
        counted = httpx.post(f"{url}/v1/messages/count_tokens", json=body, headers={"x-api-key": KEY})
    assert counted.status_code == 200, counted.text
    assert counted.headers["x-gateway-token-count"] == "local; tokenizer=estimate"
    assert counted.json() == {"input_tokens": 6 + 4}  # 4 words, a comma, a full stop, the framing
    output = log.read_text()
    assert "the deepseek tokenizer ships with litellm" in output and LITELLM_INSTALL in output
