"""The executors on their own: what a command can and cannot do in the bubblewrap sandbox (real ``bwrap``, real
processes, a real HTTP server on 127.0.0.1 for the network checks), and the ``process`` executor's limits."""

from __future__ import annotations

import asyncio
import http.server
import os
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from gateway.runtime.config import RuntimeConfig, RuntimeConfigError
from gateway.runtime.executor import Limits, Network, make_executor
from gateway.runtime.executor.egress import address_allowed, host_allowed
from gateway.runtime.executor.process import ProcessExecutor
from gateway.runtime.executor.sandbox import SandboxExecutor, probe
from tests.runtime.conftest import local_http_server

needs_bwrap = pytest.mark.skipif(probe() is not None, reason=f"no sandbox here: {probe()}")
LIMITS = Limits(timeout_s=20, max_output_bytes=4000, memory_mb=1024, file_mb=8, processes=64)


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "5")
        self.end_headers()
        self.wfile.write(b"hello")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_server() -> Iterator[int]:
    with local_http_server(_Hello) as port:
        yield port


@pytest.fixture
async def sandbox(tmp_path: Path) -> AsyncIterator[SandboxExecutor]:
    executor = SandboxExecutor(tmp_path / "sessions", LIMITS, networks=["127.0.0.0/8"])
    yield executor
    await executor.close()


async def _processes() -> str:
    done = await asyncio.to_thread(subprocess.run, ["ps", "-eo", "args"], capture_output=True, text=True)
    return done.stdout


async def _sh(executor: SandboxExecutor | ProcessExecutor, command: str, **kw: object) -> tuple[int | None, str]:
    network = kw.pop("network", Network())
    assert isinstance(network, Network)
    timeout = kw.pop("timeout_s", 15.0)
    assert isinstance(timeout, float)
    done = await executor.run(str(kw.pop("session", "sesn_a")), command, network=network, timeout_s=timeout)
    return done.exit_code, done.output.decode()


@needs_bwrap
async def test_only_the_session_directory_is_writable(sandbox: SandboxExecutor, tmp_path: Path) -> None:
    secret = tmp_path / "host-secret.txt"
    secret.write_text("do not read")
    code, out = await _sh(sandbox, "echo kept > mine.txt && cat mine.txt")
    assert (code, out) == (0, "kept\n")
    code, out = await _sh(sandbox, "echo scratch > /tmp/s && cat /tmp/s")  # a private /tmp for the call
    assert (code, out) == (0, "scratch\n")
    for target in ("/usr/gw-x", "/etc/gw-x", str(tmp_path / "gw-x")):
        code, out = await _sh(sandbox, f"echo x > {target}")
        assert code != 0 and not await asyncio.to_thread(os.path.exists, target), out
    code, out = await _sh(sandbox, f"cat {secret}; ls /root /home /work /var 2>&1 | head -5")
    assert "do not read" not in out and "No such file or directory" in out
    # another session's directory is not there, even by its host path
    await _sh(sandbox, "echo theirs > t.txt", session="sesn_b")
    other = sandbox.files("sesn_b") / "t.txt"
    code, out = await _sh(sandbox, f"cat {other}; ls -a ../")
    assert "theirs" not in out and "No such file or directory" in out
    assert "sesn_b" not in out.splitlines()[-1] and out.splitlines()[1:4] == [".", "..", "bin"]


@needs_bwrap
async def test_no_network_when_the_environment_allows_none(sandbox: SandboxExecutor, http_server: int) -> None:
    code, out = await _sh(sandbox, f"curl -sS -m 3 http://127.0.0.1:{http_server}/")
    assert code != 0 and "hello" not in out


@needs_bwrap
async def test_limited_egress_reaches_only_allowed_hosts_through_the_proxy(
    sandbox: SandboxExecutor, http_server: int
) -> None:
    limited = Network("limited", ("127.0.0.1",))
    url = f"http://127.0.0.1:{http_server}/"
    code, out = await _sh(sandbox, f"curl -sS -m 5 {url}", network=limited)
    assert (code, out) == (0, "hello")
    code, out = await _sh(sandbox, f"curl -sS -m 5 --noproxy '*' {url}", network=limited)
    assert code != 0 and "hello" not in out  # no way around the proxy
    code, out = await _sh(
        sandbox, f"curl -sS -m 5 -w ' %{{http_code}}' http://localhost:{http_server}/", network=limited
    )
    assert out.endswith(" 403") and "not in the environment's allowed_hosts" in out
    # the address guard: allowed by name, but loopback is reachable only because this sandbox lists 127.0.0.0/8
    strict = SandboxExecutor(sandbox.workdir, LIMITS)
    try:
        code, out = await _sh(strict, f"curl -sS -m 5 -w ' %{{http_code}}' {url}", network=limited, session="sesn_c")
        assert out.endswith(" 403") and "loopback, private or link-local" in out
    finally:
        await strict.close()


@needs_bwrap
async def test_a_timeout_kills_the_whole_process_tree(sandbox: SandboxExecutor, tmp_path: Path) -> None:
    started = time.monotonic()
    done = await sandbox.run(
        "sesn_a", "(sleep 347; echo late > late.txt) & setsid sleep 347 & sleep 347", network=Network(), timeout_s=1.0
    )
    assert done.timed_out and time.monotonic() - started < 10
    assert "sleep 347" not in await _processes()
    # background work does not outlive a call that ends normally either
    code, _ = await _sh(sandbox, "(sleep 1; echo late > late.txt) &")
    await asyncio.sleep(1.5)
    assert code == 0 and not (sandbox.files("sesn_a") / "late.txt").exists()


@needs_bwrap
async def test_limits_stop_a_fork_bomb_and_a_huge_write(sandbox: SandboxExecutor) -> None:
    if os.geteuid() != 0:
        pytest.skip("RLIMIT_NPROC is set per session only when the gateway runs as root")
    _code, out = await _sh(sandbox, "for i in $(seq 200); do sleep 5 & done; wait", timeout_s=15.0)
    assert "fork" in out and "Resource temporarily unavailable" in out
    _code, out = await _sh(sandbox, "head -c 10G /dev/zero > big; ls -l big")
    assert "File size limit exceeded" in out
    assert (sandbox.files("sesn_a") / "big").stat().st_size <= LIMITS.file_mb * 1024 * 1024


@needs_bwrap
async def test_output_is_cut_with_a_marker(sandbox: SandboxExecutor) -> None:
    done = await sandbox.run("sesn_a", "head -c 10000 /dev/zero | tr '\\0' x", network=Network(), timeout_s=10.0)
    assert done.exit_code == 0 and len(done.output) == LIMITS.max_output_bytes and done.cut == 6000


@needs_bwrap
async def test_files_and_shell_state_persist_until_the_session_is_deleted(sandbox: SandboxExecutor) -> None:
    await _sh(sandbox, "mkdir -p d && cd d && echo one > f && export K=v")
    _code, out = await _sh(sandbox, "pwd; cat f; echo $K")
    assert out == "/workspace/d\none\nv\n"
    await sandbox.reset("sesn_a")
    _code, out = await _sh(sandbox, "pwd; echo ${K:-unset}")
    assert out == "/workspace\nunset\n"
    await sandbox.delete("sesn_a")
    assert not (sandbox.workdir / "sesn_a").exists()


async def test_the_process_executor_has_limits_and_a_clean_environment(tmp_path: Path) -> None:
    os.environ["GW_TEST_SECRET"] = "s3cret"
    try:
        executor = ProcessExecutor(tmp_path / "sessions", LIMITS)
        _code, out = await _sh(executor, "pwd; echo ${GW_TEST_SECRET:-clean}")
        assert out == f"{executor.files('sesn_a')}\nclean\n"
        done = await executor.run("sesn_a", "sleep 348 & sleep 348", network=Network(), timeout_s=1.0)
        assert done.timed_out
        assert "sleep 348" not in await _processes()
    finally:
        del os.environ["GW_TEST_SECRET"]


def test_the_process_executor_is_refused_outside_local_mode_unless_allowed(tmp_path: Path) -> None:
    config = RuntimeConfig(cloud_executor="process", workdir=str(tmp_path))
    with pytest.raises(RuntimeConfigError, match="allow_process_executor"):
        make_executor(config, local_mode=False)
    assert make_executor(config, local_mode=True)[0] is not None
    allowed = RuntimeConfig(cloud_executor="process", workdir=str(tmp_path), allow_process_executor=True)
    assert make_executor(allowed, local_mode=False)[0] is not None
    assert make_executor(RuntimeConfig(cloud_executor="none"), local_mode=True) == (None, None)


def test_host_and_address_rules() -> None:
    assert host_allowed("API.example.com", ["*.example.com"]) and host_allowed("pypi.org", ["pypi.org."])
    assert not host_allowed("example.com.evil.net", ["example.com"]) and not host_allowed("x.org", [])
    assert address_allowed("93.184.216.34", []) and not address_allowed("10.0.0.1", [])
    assert not address_allowed("169.254.169.254", []) and not address_allowed("::1", [])
    import ipaddress

    assert address_allowed("10.1.2.3", [ipaddress.ip_network("10.0.0.0/8")])


def test_a_machine_without_bwrap_gets_a_warning_and_the_none_behaviour(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no bwrap on this PATH
    executor, problem = make_executor(RuntimeConfig(workdir=str(tmp_path / "sessions")), local_mode=False)
    assert executor is None and problem is not None
    assert "bwrap is not installed" in problem and "runtime.cloud_executor" in problem
