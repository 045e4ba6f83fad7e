"""Durability: a real gateway process is killed with SIGKILL in the middle of a burst of creates (agents: rows;
files: rows plus blobs); after a restart every create that had answered 2xx is present and intact (SQLite WAL and
PostgreSQL)."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.gateway_process import gateway_process as shared_gateway_process
from tests.storage.conftest import KEY_A

#: ``create(client, worker, i)`` -> (id, what must be there after the restart), or None if not acknowledged
Create = Callable[[httpx.Client, int, int], tuple[str, str] | None]


@contextmanager
def gateway_process(config: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    with shared_gateway_process(config, {"GW_STORAGE_KEY": KEY_A}) as started:
        yield started


def write_config(tmp_path: Path, storage: dict[str, Any]) -> Path:
    config = tmp_path / "config.yaml"
    doc = {
        "gateway": {"api_keys": [{"key": "os.environ/GW_STORAGE_KEY", "name": "d", "workspace": "durable"}]},
        "storage": storage,
    }
    config.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return config


def kill_during_burst(config: Path, create: Create, at_least: int) -> dict[str, str]:
    """4 threads call ``create`` in a loop against a gateway process, which is SIGKILLed once ``at_least`` creates
    were acknowledged; returns what was acknowledged."""
    acknowledged: dict[str, str] = {}
    errors: list[BaseException] = []

    def burst(url: str, worker: int) -> None:
        with httpx.Client(base_url=url, headers={"x-api-key": KEY_A}, timeout=10) as client:
            for i in range(10_000):
                try:
                    done = create(client, worker, i)
                except httpx.TransportError:
                    return  # the server is gone
                except BaseException as exc:  # pragma: no cover - reported below
                    errors.append(exc)
                    return
                if done is not None:
                    acknowledged[done[0]] = done[1]

    with gateway_process(config) as (proc, url):
        workers = [threading.Thread(target=burst, args=(url, w)) for w in range(4)]
        for worker in workers:
            worker.start()
        deadline = time.monotonic() + 30
        while len(acknowledged) < at_least and time.monotonic() < deadline:
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        for worker in workers:
            worker.join(timeout=30)
    assert not errors
    assert len(acknowledged) >= at_least
    return acknowledged


def test_sigkill_during_a_burst_of_creates_loses_no_acknowledged_write(
    database: dict[str, Any], tmp_path: Path
) -> None:
    def create(client: httpx.Client, worker: int, i: int) -> tuple[str, str] | None:
        name = f"w{worker}-{i}"
        response = client.post("/v1/agents", json={"model": "claude-haiku-4-5", "name": name})
        return (response.json()["id"], name) if response.status_code == 200 else None

    config = write_config(tmp_path, database)
    acknowledged = kill_during_burst(config, create, at_least=40)
    with gateway_process(config) as (_proc, url), httpx.Client(base_url=url, headers={"x-api-key": KEY_A}) as client:
        for agent_id, name in acknowledged.items():
            got = client.get(f"/v1/agents/{agent_id}")
            assert got.status_code == 200, agent_id
            body = got.json()
            assert body["name"] == name and body["version"] == 1 and body["model"] == {"id": "claude-haiku-4-5"}


def test_sigkill_during_a_burst_of_uploads_loses_no_acknowledged_file(database: dict[str, Any], tmp_path: Path) -> None:
    """Files are a row plus a blob: every upload that answered 200 downloads, after the restart, byte for byte."""

    def create(client: httpx.Client, worker: int, i: int) -> tuple[str, str] | None:
        content = os.urandom(48 * 1024)
        response = client.post("/v1/files", files={"file": (f"w{worker}-{i}.bin", content)})
        if response.status_code != 200:
            return None
        return response.json()["id"], hashlib.sha256(content).hexdigest()

    config = write_config(tmp_path, {**database, "blob_dir": str(tmp_path / "blobs")})
    acknowledged = kill_during_burst(config, create, at_least=30)
    with gateway_process(config) as (_proc, url), httpx.Client(base_url=url, headers={"x-api-key": KEY_A}) as client:
        for file_id, digest in acknowledged.items():
            got = client.get(f"/v1/files/{file_id}/content")
            assert got.status_code == 200, file_id
            assert hashlib.sha256(got.content).hexdigest() == digest, file_id
