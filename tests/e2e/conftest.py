"""A real gateway process (the `litellm-gateway serve` console script) on a free loopback port."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.gateway_process import gateway_process

KEY = "sk-gw-e2e-0123456789abcdef"


@pytest.fixture(scope="session")
def gateway_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    config = tmp_path_factory.mktemp("gw") / "config.yaml"
    config.write_text(
        "gateway:\n  api_keys:\n    - {key: os.environ/GW_E2E_KEY, name: e2e, workspace: e2e}\n", encoding="utf-8"
    )
    with gateway_process(config, {"GW_E2E_KEY": KEY}) as (_proc, url):
        yield url
