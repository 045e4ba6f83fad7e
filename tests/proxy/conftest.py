"""Fixtures: fake Anthropic hosts (real servers on 127.0.0.1) and a real gateway process in front of them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.proxy.fake_upstream import FakeUpstream, free_port

REPO = Path(__file__).resolve().parents[2]
GATEWAY_BIN = Path(sys.executable).parent / "litellm-gateway"
GATEWAY_KEY = "sk-gw-proxytest-0123456789abcdef"
READ_TIMEOUT = 1.5


@dataclass
class Gateway:
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    config: Path

    def rss_kib(self) -> int:
        """Resident set size of the gateway process (VmRSS), in KiB."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def peak_rss_kib(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        raise RuntimeError("no VmHWM")


def start_gateway(config: dict[str, Any], tmp: Path, *, name: str = "gateway") -> Gateway:
    port = free_port()
    config = {**config, "gateway": {"host": "127.0.0.1", "port": port, **config.get("gateway", {})}}
    config_file = tmp / f"{name}.yaml"
    config_file.write_text(yaml.safe_dump(config), encoding="utf-8")
    log = tmp / f"{name}.log"
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    process = subprocess.Popen(
        [str(GATEWAY_BIN), "serve", "--config", str(config_file), "--log-level", "warning"],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        cwd=REPO,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gateway exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(url + "/healthcheck", timeout=1).status_code == 200:
                return Gateway(url=url, process=process, log=log, config=config_file)
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"gateway did not start:\n{log.read_text()}")


def stop_gateway(gateway: Gateway) -> None:
    gateway.process.send_signal(signal.SIGINT)
    try:
        gateway.process.wait(10)
    except subprocess.TimeoutExpired:
        gateway.process.kill()
        gateway.process.wait(5)


@pytest.fixture(scope="session")
def fakes() -> Iterator[dict[str, FakeUpstream]]:
    servers = {name: FakeUpstream(name).start() for name in ("api", "platform", "claude_ai", "evil")}
    yield servers
    for server in servers.values():
        server.stop()


@pytest.fixture(autouse=True)
def _clean_fakes(request: pytest.FixtureRequest) -> None:
    if "fakes" in request.fixturenames:
        for server in request.getfixturevalue("fakes").values():
            server.reset()


@pytest.fixture(scope="session")
def down_url() -> str:
    """A URL where nothing listens."""
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture(scope="session")
def passthrough_config(
    fakes: dict[str, FakeUpstream], down_url: str, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    data = tmp_path_factory.mktemp("passthrough-data")
    return {
        "gateway": {"api_keys": [{"key": GATEWAY_KEY, "name": "tests", "workspace": "default"}]},
        "passthrough": {
            "mode": "passthrough",
            "upstreams": {role: fakes[role].url for role in ("api", "platform", "claude_ai")},
            "timeouts": {"connect": 2, "read": READ_TIMEOUT},
            "categories": {
                "account_settings": {"upstream": down_url},
                "event_logging": {"mode": "forward"},
            },
            "local": {"data_dir": str(data)},
        },
    }


@pytest.fixture(scope="session")
def gateway(passthrough_config: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gw = start_gateway(passthrough_config, tmp_path_factory.mktemp("gateway"))
    yield gw
    stop_gateway(gw)
