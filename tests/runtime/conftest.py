"""A real gateway process whose sessions run on a scripted fake model, and the SDK-helper clients that drive it.

``runtime_gateway`` starts `bench.fakes.AnthropicFake` (every model id routes to it) and `litellm-gateway serve` on a
fresh SQLite file or PostgreSQL schema, with short leases. ``clients`` runs a scenario of
:mod:`tests.runtime.scenarios` with the installed SDK (in this process) or with anthropic 2.14.0 (a subprocess in
a venv made once per test run under ``.venv-sdk-2.14``)."""

from __future__ import annotations

import contextlib
import fcntl
import http.server
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anthropic
import pytest
import yaml

from bench.fakes import AnthropicFake
from tests.gateway_process import gateway_process
from tests.runtime import scenarios
from tests.storage.conftest import DATABASES, storage_section

KEY = "sk-gw-runtime-0123456789abcdef"
ROOT = Path(__file__).resolve().parents[2]
OLD_SDK = "2.14.0"
RUNTIME = {"lease_ttl_seconds": 4, "sweep_seconds": 0.5, "retry_backoff_seconds": 0.2}


@dataclass
class Gateway:
    url: str
    fake: AnthropicFake
    proc: subprocess.Popen[bytes]
    sdk: anthropic.Anthropic
    tmp: Path
    config: Path
    logs: list[str] = field(default_factory=list)

    def environment_key(self, environment_id: str) -> str:
        """A key minted by ``litellm-gateway environments key`` (the last line of its output)."""
        script = Path(sys.executable).with_name("litellm-gateway")
        done = subprocess.run(
            [str(script), "environments", "key", environment_id, "--config", str(self.config)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip().splitlines()[-1]

    def events(self, session_id: str) -> list[Any]:
        return list(self.sdk.beta.sessions.events.list(session_id, limit=1000))

    def types(self, session_id: str) -> list[str]:
        return [e.type for e in self.events(session_id)]

    def wait_for(self, session_id: str, done: Callable[[list[Any]], bool], timeout: float = 20) -> list[Any]:
        deadline = time.monotonic() + timeout
        while True:
            events = self.events(session_id)
            if done(events) or time.monotonic() > deadline:
                return events
            time.sleep(0.1)

    def idle(self, session_id: str, reason: str = "end_turn", timeout: float = 20, count: int = 1) -> list[Any]:
        def enough(events: list[Any]) -> bool:
            idles = [e for e in events if e.type == "session.status_idle" and e.stop_reason.type == reason]
            return len(idles) >= count

        events = self.wait_for(session_id, enough, timeout)
        assert enough(events), [e.type for e in events]
        return events


@contextlib.contextmanager
def local_http_server(handler: Any) -> Iterator[int]:
    """A real HTTP server on 127.0.0.1 (a thread of this process) answering with ``handler``; yields its port."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def write_config(
    tmp: Path, fake: AnthropicFake, storage: dict[str, Any], runtime: dict[str, Any] | None = None
) -> Path:
    config = {
        "gateway": {"api_keys": [{"key": KEY, "name": "runtime", "workspace": "rt"}]},
        "storage": {**storage, "work_ttl_seconds": 4},
        "model_list": [
            {"model_name": "fake", "litellm_params": {"model": "anthropic/*", "api_base": fake.url, "api_key": "up"}}
        ],
        "routing": {"default": "fake"},
        # cloud sessions' files under the test's directory, never in the user's data directory
        "runtime": {**RUNTIME, "workdir": str(tmp / "sessions"), **(runtime or {})},
    }
    path = tmp / "gateway.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


#: (database, client SDK): every scenario on both databases with the installed SDK, and on SQLite with 2.14.0
COMBOS = [("sqlite", "installed"), ("postgresql", "installed"), ("sqlite", OLD_SDK)]


@pytest.fixture(params=COMBOS, ids=["-".join(c) for c in COMBOS])
def combo(request: pytest.FixtureRequest) -> tuple[str, str]:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def database(combo: tuple[str, str], tmp_path: Path) -> Iterator[dict[str, Any]]:
    with storage_section(combo[0], tmp_path) as section:
        yield section


@pytest.fixture(params=DATABASES)
def any_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, Any]]:
    with storage_section(request.param, tmp_path) as section:
        yield section


@pytest.fixture
def sqlite(tmp_path: Path) -> Iterator[dict[str, Any]]:
    with storage_section("sqlite", tmp_path) as section:
        yield section


def _gateway(storage: dict[str, Any], tmp: Path) -> Iterator[Gateway]:
    with AnthropicFake(name="session-model") as fake:
        config = write_config(tmp, fake, storage)
        with gateway_process(config, {}) as (proc, url):
            client = anthropic.Anthropic(base_url=url, api_key=KEY, max_retries=0, _strict_response_validation=True)
            yield Gateway(url, fake, proc, client, tmp, config)


@pytest.fixture
def runtime_gateway(database: dict[str, Any], tmp_path: Path) -> Iterator[Gateway]:
    yield from _gateway(database, tmp_path)


@pytest.fixture
def sqlite_gateway(sqlite: dict[str, Any], tmp_path: Path) -> Iterator[Gateway]:
    yield from _gateway(sqlite, tmp_path)


@pytest.fixture(scope="session")
def old_sdk_python() -> Path:
    """The interpreter of a venv with anthropic 2.14.0 (the release the runtime reference was read from)."""
    venv = ROOT / ".venv-sdk-2.14"
    python = venv / "bin" / "python"
    probe = [str(python), "-c", "import anthropic; print(anthropic.__version__)"]
    # test workers (pytest-xdist) build it once: the first takes the lock, the others find it made
    with open(ROOT / ".venv-sdk-2.14.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if python.exists() and subprocess.run(probe, capture_output=True, text=True).stdout.strip() == OLD_SDK:
            return python
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", f"anthropic=={OLD_SDK}"], check=True)
    return python


Runner = Callable[[str, dict[str, Any]], dict[str, Any]]


@pytest.fixture
def clients(combo: tuple[str, str], request: pytest.FixtureRequest) -> Runner:
    """Run a scenario's client side with the combo's SDK release."""
    if combo[1] == "installed":
        return scenarios.run
    python = request.getfixturevalue("old_sdk_python")

    def run(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        script = Path(scenarios.__file__)
        done = subprocess.run(
            [str(python), str(script), name, json.dumps(arguments)],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "PYTHONPATH": ""},
        )
        assert done.returncode == 0, done.stderr[-3000:]
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        assert result.pop("sdk") == OLD_SDK
        return result

    return run
