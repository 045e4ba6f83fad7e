"""Real gateway processes (``litellm-gateway serve``) with a master key, on SQLite or PostgreSQL, in front of the
Anthropic fake (bench.fakes); Redis (127.0.0.1:6379) for the shared-limit cases."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import anthropic
import httpx
import pytest
import yaml

from bench.fakes import AnthropicFake
from tests.gateway_process import gateway_process
from tests.storage.conftest import DATABASES, storage_section

MASTER = "sk-master-keys-test-0123456789"
CONFIG_KEY = "sk-gw-config-key-test-0123456789"
REDIS_URL = "redis://127.0.0.1:6379/0"
MODEL = "claude-sonnet-4-5"


@pytest.fixture
def fake() -> Iterator[AnthropicFake]:
    with AnthropicFake() as server:
        yield server


@pytest.fixture(params=DATABASES)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, Any]]:
    with storage_section(str(request.param), tmp_path) as section:
        yield section


@pytest.fixture
def sqlite(tmp_path: Path) -> Iterator[dict[str, Any]]:
    with storage_section("sqlite", tmp_path) as section:
        yield section


def config(
    tmp_path: Path,
    storage: dict[str, Any],
    upstream: str,
    *,
    redis: bool = False,
    litellm_params: dict[str, Any] | None = None,
) -> Path:
    """A config file: master key, one config key, one model group on ``upstream``."""
    doc: dict[str, Any] = {
        "gateway": {
            "api_keys": [{"key": CONFIG_KEY, "name": "config-alice", "workspace": "team-a"}],
            "validate_responses": True,
        },
        "general_settings": {"master_key": MASTER},
        "storage": storage,
        "model_list": [
            {
                "model_name": "main",
                "litellm_params": {
                    "model": "anthropic/*",
                    "api_base": upstream,
                    "api_key": "k",
                    **(litellm_params or {}),
                },
            }
        ],
        "routing": {"default": "main"},
    }
    if redis:
        doc["router_settings"] = {"redis_url": REDIS_URL}
    path = tmp_path / f"gateway-{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


@contextmanager
def gateways(path: Path, count: int = 1) -> Iterator[list[str]]:
    """``count`` gateway processes on the same config (same database); yields their base URLs."""
    with ExitStack() as stack:
        urls = []
        for i in range(count):
            _proc, url = stack.enter_context(gateway_process(path, {}, log_file=path.with_suffix(f".{i}.log")))
            urls.append(url)
        yield urls


def admin(url: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"authorization": f"Bearer {MASTER}"}, timeout=10)


def sdk(url: str, key: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=url, api_key=key, max_retries=0, _strict_response_validation=True)


def generate(url: str, **fields: Any) -> dict[str, Any]:
    with admin(url) as client:
        response = client.post("/key/generate", json=fields)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def ask(url: str, key: str, text: str = "hi") -> anthropic.types.Message:
    return sdk(url, key).messages.create(model=MODEL, max_tokens=16, messages=[{"role": "user", "content": text}])
