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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.gateway_process import gateway_process as shared_gateway_process
from tests.storage.conftest import KEY_A


@contextmanager
def gateway_process(config: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    with shared_gateway_process(config, {"GW_STORAGE_KEY": KEY_A}) as started:
        yield started


def test_sigkill_during_a_burst_of_creates_loses_no_acknowledged_write(
    database: dict[str, Any], tmp_path: Path
) -> None:
    config = tmp_path / "config.yaml"
    doc = {
        "gateway": {"api_keys": [{"key": "os.environ/GW_STORAGE_KEY", "name": "d", "workspace": "durable"}]},
        "storage": database,
    }
    config.write_text(yaml.safe_dump(doc), encoding="utf-8")
    acknowledged: dict[str, str] = {}
    errors: list[BaseException] = []

    def burst(url: str, worker: int) -> None:
        with httpx.Client(base_url=url, headers={"x-api-key": KEY_A}, timeout=10) as client:
            for i in range(10_000):
                name = f"w{worker}-{i}"
                try:
                    response = client.post("/v1/agents", json={"model": "claude-haiku-4-5", "name": name})
                except httpx.TransportError:
                    return  # the server is gone
                except BaseException as exc:  # pragma: no cover - reported below
                    errors.append(exc)
                    return
                if response.status_code == 200:
                    acknowledged[response.json()["id"]] = name

    with gateway_process(config) as (proc, url):
        workers = [threading.Thread(target=burst, args=(url, w)) for w in range(4)]
        for worker in workers:
            worker.start()
        deadline = time.monotonic() + 30
        while len(acknowledged) < 40 and time.monotonic() < deadline:
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        for worker in workers:
            worker.join(timeout=30)
    assert not errors
    assert len(acknowledged) >= 40

    with gateway_process(config) as (_proc, url), httpx.Client(base_url=url, headers={"x-api-key": KEY_A}) as client:
        for agent_id, name in acknowledged.items():
            got = client.get(f"/v1/agents/{agent_id}")
            assert got.status_code == 200, agent_id
            body = got.json()
            assert body["name"] == name and body["version"] == 1 and body["model"] == {"id": "claude-haiku-4-5"}


def test_sigkill_during_a_burst_of_uploads_loses_no_acknowledged_file(database: dict[str, Any], tmp_path: Path) -> None:
    """Files are a row plus a blob: every upload that answered 200 downloads, after the restart, byte for byte."""
    config = tmp_path / "config.yaml"
    doc = {
        "gateway": {"api_keys": [{"key": "os.environ/GW_STORAGE_KEY", "name": "d", "workspace": "durable"}]},
        "storage": {**database, "blob_dir": str(tmp_path / "blobs")},
    }
    config.write_text(yaml.safe_dump(doc), encoding="utf-8")
    acknowledged: dict[str, str] = {}
    errors: list[BaseException] = []

    def burst(url: str, worker: int) -> None:
        with httpx.Client(base_url=url, headers={"x-api-key": KEY_A}, timeout=10) as client:
            for i in range(10_000):
                content = os.urandom(48 * 1024)
                try:
                    response = client.post("/v1/files", files={"file": (f"w{worker}-{i}.bin", content)})
                except httpx.TransportError:
                    return  # the server is gone
                except BaseException as exc:  # pragma: no cover - reported below
                    errors.append(exc)
                    return
                if response.status_code == 200:
                    acknowledged[response.json()["id"]] = hashlib.sha256(content).hexdigest()

    with gateway_process(config) as (proc, url):
        workers = [threading.Thread(target=burst, args=(url, w)) for w in range(4)]
        for worker in workers:
            worker.start()
        deadline = time.monotonic() + 30
        while len(acknowledged) < 30 and time.monotonic() < deadline:
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        for worker in workers:
            worker.join(timeout=30)
    assert not errors
    assert len(acknowledged) >= 30

    with gateway_process(config) as (_proc, url), httpx.Client(base_url=url, headers={"x-api-key": KEY_A}) as client:
        for file_id, digest in acknowledged.items():
            got = client.get(f"/v1/files/{file_id}/content")
            assert got.status_code == 200, file_id
            assert hashlib.sha256(got.content).hexdigest() == digest, file_id
