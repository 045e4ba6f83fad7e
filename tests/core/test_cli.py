"""The CLI: fail-closed binding, config errors, check-config, and one real uvicorn run."""

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

from gateway.cli import is_loopback, main
from tests.core.conftest import HANDLERS, MINI_SPEC

REPO = Path(__file__).resolve().parents[2]
SERVER_KEY = "sk-uvicorn-test-key-0123456789"


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", *args],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_local_mode_refuses_a_non_loopback_bind() -> None:
    result = run_cli("serve", "--host", "0.0.0.0")
    assert result.returncode == 2, result.stderr
    assert "refusing to listen on '0.0.0.0'" in result.stderr
    assert "gateway.api_keys" in result.stderr


def test_config_error_exits_2_naming_the_field(tmp_path: Path) -> None:
    config = tmp_path / "gw.yaml"
    config.write_text("gateway:\n  api_keys:\n    - {key: os.environ/GW_UNSET_TEST_KEY, name: a, workspace: w}\n")
    env = {k: v for k, v in os.environ.items() if k != "GW_UNSET_TEST_KEY"}
    result = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "serve", "--config", str(config)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "gateway.api_keys[0].key: environment variable GW_UNSET_TEST_KEY is not set" in result.stderr


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("", False),
        ("192.168.1.10", False),
        ("example.com", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def mini_config(tmp_path: Path, port: int = 4000, spec: Path = MINI_SPEC) -> Path:
    config = tmp_path / "gw.yaml"
    config.write_text(
        f"""
gateway:
  host: 127.0.0.1
  port: {port}
  spec_path: {spec}
  handlers_package: {HANDLERS}
  max_request_body_bytes: 1024
  api_keys:
    - {{key: os.environ/GW_SERVER_TEST_KEY, name: tester, workspace: ci}}
"""
    )
    return config


def test_check_config_reports_ok(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GW_SERVER_TEST_KEY", SERVER_KEY)
    assert main(["check-config", "--config", str(mini_config(tmp_path))]) == 0
    out = capsys.readouterr().out
    assert "config OK" in out and "1 API key(s)" in out and "operations" in out
    assert SERVER_KEY not in out


def test_check_config_fails_on_a_missing_spec(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GW_SERVER_TEST_KEY", SERVER_KEY)
    config = mini_config(tmp_path, spec=tmp_path / "missing.yaml")
    assert main(["check-config", "--config", str(config)]) == 2
    assert "gateway.spec_path" in capsys.readouterr().err


def test_check_config_reads_the_storage_section(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "storage.yaml"
    config.write_text("storage:\n  database_url: postgresql+asyncpg://app:hunter2@127.0.0.1/test\n", encoding="utf-8")
    assert main(["check-config", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "storage: postgresql+asyncpg://app:***@127.0.0.1/test" in out and "hunter2" not in out
    config.write_text("storage:\n  database_url: mysql://db/x\n", encoding="utf-8")
    assert main(["check-config", "--config", str(config)]) == 2
    assert "storage.database_url: must start with" in capsys.readouterr().err


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "serve", "--config", str(mini_config(tmp_path, port))],
        cwd=REPO,
        env={**os.environ, "GW_SERVER_TEST_KEY": SERVER_KEY},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                out = proc.stdout.read() if proc.stdout else ""
                pytest.fail(f"server exited with {proc.returncode}:\n{out}")
            try:
                if httpx.get(f"{base}/healthcheck", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("server did not answer /healthcheck within 30 s")
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def test_real_uvicorn_server(server: str) -> None:
    health = httpx.get(f"{server}/healthcheck")
    assert health.status_code == 200
    assert health.json()["status"] == "healthy"
    assert health.headers["request-id"].startswith("req_")
    assert "server" not in health.headers

    denied = httpx.get(f"{server}/v1/things")
    assert denied.status_code == 401
    assert denied.json()["request_id"] == denied.headers["request-id"]
    allowed = httpx.get(f"{server}/v1/things", headers={"authorization": f"Bearer {SERVER_KEY}"})
    assert allowed.status_code == 200

    def chunks() -> Iterator[bytes]:
        for _ in range(10):
            yield b" " * 512

    too_big = httpx.post(
        f"{server}/v1/things",
        content=chunks(),
        headers={"content-type": "application/json", "x-api-key": SERVER_KEY},
    )
    assert too_big.status_code == 413
    assert too_big.json()["error"]["type"] == "request_too_large"
