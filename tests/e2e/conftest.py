"""A real gateway process (the `litellm-gateway serve` console script) on a free loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

KEY = "sk-gw-e2e-0123456789abcdef"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def gateway_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    config = tmp_path_factory.mktemp("gw") / "config.yaml"
    config.write_text(
        "gateway:\n  api_keys:\n    - {key: os.environ/GW_E2E_KEY, name: e2e, workspace: e2e}\n", encoding="utf-8"
    )
    port = _free_port()
    script = Path(sys.executable).with_name("litellm-gateway")
    proc = subprocess.Popen(
        [str(script), "serve", "--config", str(config), "--port", str(port)],
        env={**os.environ, "GW_E2E_KEY": KEY},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthcheck", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.2)
    else:
        proc.kill()
        out = proc.stdout.read().decode() if proc.stdout else ""
        pytest.fail(f"gateway did not start: {out[-2000:]}")
    yield url
    proc.terminate()
    proc.wait(timeout=20)
