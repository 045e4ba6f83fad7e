"""The README's Docker Compose quick start without Docker: the processes compose.yaml would start (the gateway with
the container's command, configuration and environment, on this machine's PostgreSQL and Redis), then the README's
curl commands as HTTP requests. PostgreSQL gets a database of its own for the test, dropped afterwards."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.gateway_process import free_port

ROOT = Path(__file__).resolve().parents[2]
PG_ADMIN = os.environ.get("GATEWAY_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = "redis://127.0.0.1:6379/0"


async def _admin(statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture
def database() -> Iterator[str]:
    name = f"gw_quickstart_{secrets.token_hex(4)}"
    try:
        asyncio.run(_admin(f"CREATE DATABASE {name}"))
    except Exception as exc:  # any failure to reach the server
        if os.environ.get("GATEWAY_TEST_REQUIRE_PG"):
            pytest.fail(f"PostgreSQL not reachable at {PG_ADMIN}: {exc}")
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN}: {exc}")
    try:
        yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    finally:
        asyncio.run(_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


def _start(env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """compose.yaml's command for the gateway service, the port moved to a free one; yields once healthy."""
    command = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]["gateway"]["command"]
    port = free_port()
    command = [*command[: command.index("--port") + 1], str(port)]
    command[0] = str(Path(sys.executable).with_name(command[0]))
    proc = subprocess.Popen(command, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"gateway exited {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/healthcheck", timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    pytest.fail(f"gateway did not start: {log.read_text()[-2000:]}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    proc.wait(timeout=30)


def test_quick_start_processes_without_docker(database: str, tmp_path: Path) -> None:
    compose_env = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]["gateway"]["environment"]
    assert compose_env["CONFIG_FILE_PATH"] == "/app/config/gateway.yaml"  # mounted from ./deploy/gateway.yaml
    data = tmp_path / "data"
    data.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("GATEWAY_KEY", "CONFIG_FILE_PATH")}
    env.update(
        {
            # the container's paths, mapped onto this machine: /app -> the checkout, /data -> a temporary directory
            "CONFIG_FILE_PATH": str(ROOT / "deploy" / "gateway.yaml"),
            "GATEWAY_KEY_FILE": compose_env["GATEWAY_KEY_FILE"].replace("/data", str(data)),
            "XDG_DATA_HOME": str(data),
            "DATABASE_URL": database,
            "REDIS_URL": REDIS_URL,
        }
    )
    log = tmp_path / "gateway.log"
    proc, url = _start(env, log)
    try:
        printed = [line for line in log.read_text().splitlines() if line.startswith("GATEWAY_KEY=")]
        assert len(printed) == 1, log.read_text()
        key = printed[0].split("=", 1)[1]
        assert (data / "gateway.key").read_text().strip() == key
        assert (data / "gateway.key").stat().st_mode & 0o777 == 0o600
        # the README's commands
        assert httpx.get(f"{url}/healthcheck").status_code == 200
        models = httpx.get(f"{url}/v1/models", headers={"x-api-key": key})
        assert models.status_code == 200, models.text
        assert any(m["id"].startswith("claude-") for m in models.json()["data"])
        refused = httpx.get(f"{url}/v1/models")
        assert refused.status_code == 401
        assert refused.json()["error"]["type"] == "authentication_error"
        # blobs and the vault key live on the data volume, beside the key file (check-config says where)
        checked = subprocess.run(
            [str(Path(sys.executable).with_name("litellm-gateway")), "check-config"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert checked.returncode == 0, checked.stderr
        assert f"blobs in {data / 'litellm-gateway' / 'blobs'}" in checked.stdout
        assert "postgresql+asyncpg://" in checked.stdout
    finally:
        _stop(proc)
    # second start: the stored key is reused and not printed again
    proc, url = _start(env, log)
    try:
        assert len([line for line in log.read_text().splitlines() if line.startswith("GATEWAY_KEY=")]) == 1
        assert httpx.get(f"{url}/v1/models", headers={"x-api-key": key}).status_code == 200
    finally:
        _stop(proc)
    # GATEWAY_KEY from the environment (compose passes ${GATEWAY_KEY:-}) wins over the file
    chosen = "sk-gw-" + secrets.token_urlsafe(24)
    proc, url = _start({**env, "GATEWAY_KEY": chosen}, log)
    try:
        assert httpx.get(f"{url}/v1/models", headers={"x-api-key": chosen}).status_code == 200
        assert httpx.get(f"{url}/v1/models", headers={"x-api-key": key}).status_code == 401
        assert chosen not in log.read_text()  # never echoed
    finally:
        _stop(proc)


def test_bind_all_addresses_without_a_key_is_still_refused(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("GATEWAY_KEY", "GATEWAY_KEY_FILE", "CONFIG_FILE_PATH")}
    script = Path(sys.executable).with_name("litellm-gateway")
    result = subprocess.run(
        [str(script), "serve", "--host", "0.0.0.0", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "refusing to listen on '0.0.0.0'" in result.stderr
