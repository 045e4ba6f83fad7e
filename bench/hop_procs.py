"""Processes for ``bench/native_hop.py``: the fake upstream, the gateway and the LiteLLM proxy, each a separate
process on 127.0.0.1, optionally pinned to CPUs with ``taskset``; and what /proc says about them (CPU time, RSS,
open fds: each summed over the process and its descendants, so a gateway with ``--workers N`` counts its N workers).

Each process gets its own session (process group), so stopping it ends it and any worker it spawned, and nothing
else. Logs go to files in the run's temporary directory; a process that fails to start has its log tail printed.
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
PROJECT_BIN = ROOT / ".venv" / "bin"
BENCH_VENV = ROOT / ".bench-venv"
LITELLM_BIN = BENCH_VENV / "bin" / "litellm"
LITELLM_SETUP = "python3 bench/litellm_venv.py"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
# What the LiteLLM proxy needs to stay on this machine (tech-spike.md, pitfalls): no cost-map or beta-header
# downloads, no tokenizer fetches. Telemetry is opt-in and off by default.
LITELLM_ENV = {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_OFFLINE_MODE": "true"}
LOOPBACK = "127.0.0.1"


def raise_fd_limit(want: int = 65536) -> int:
    """Raise RLIMIT_NOFILE towards ``want`` (children inherit it); returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def pin_self(cpu: int | None) -> None:
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})


@dataclass
class Proc:
    """A started process: ``name``, ``url`` (base URL), ``pid``, its log file."""

    name: str
    url: str
    popen: subprocess.Popen[bytes]
    log: Path
    started_at: float = field(default_factory=time.perf_counter)
    ready_s: float = 0.0

    @property
    def pid(self) -> int:
        return self.popen.pid

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def alive(self) -> bool:
        return self.popen.poll() is None

    def wait_ready(self, path: str, timeout: float, ok: tuple[int, ...] = (200,)) -> None:
        """Poll ``GET url+path`` until it answers one of ``ok``; raise with the log tail otherwise."""
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=2.0, trust_env=False) as client:
            while time.monotonic() < deadline:
                if not self.alive():
                    raise RuntimeError(f"{self.name} exited with {self.popen.returncode}:\n{self.log_tail()}")
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(self.url + path).status_code in ok:
                        self.ready_s = time.perf_counter() - self.started_at
                        return
                time.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready after {timeout:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        """SIGTERM to the process group (this process and its workers only), then SIGKILL after 10 s."""
        if not self.alive():
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(5)


def _spawn(
    name: str, url: str, argv: list[str], log: Path, cpus: Collection[int] | None, env: dict[str, str], cwd: Path
) -> Proc:
    """Start ``argv`` in its own session; with ``cpus``, under ``taskset`` (which execs it: the pid is the command's,
    and the processes it forks inherit the affinity)."""
    if cpus and shutil.which("taskset"):
        argv = ["taskset", "-c", ",".join(str(c) for c in sorted(cpus)), *argv]
    handle = log.open("wb")
    popen = subprocess.Popen(argv, stdout=handle, stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=True)
    handle.close()
    return Proc(name, url, popen, log)


def _base_env() -> dict[str, str]:
    env = dict(os.environ)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        env.pop(name, None)
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def start_fake(workdir: Path, cpu: int | None, *, event_delay_ms: float, chunks: int) -> Proc:
    port = free_port()
    argv = [
        str(PROJECT_BIN / "python"),
        "-m",
        "bench.fakes",
        "anthropic",
        "--port",
        str(port),
        "--no-record",
        "--event-delay-ms",
        str(event_delay_ms),
        "--chunks",
        str(chunks),
    ]
    return _spawn("fake", f"http://{LOOPBACK}:{port}", argv, workdir / "fake.log", _one(cpu), _base_env(), ROOT)


def gateway_config(fake_url: str, key: str) -> str:
    """A gateway config with one key and everything routed to the fake (``anthropic/*`` keeps the client's id). The
    load generator is one client address: the per-address connection limit (64 by default, counted per worker) is
    raised so that the held-streams phase can open its streams."""
    return (
        "server:\n"
        "  max_connections_per_client: 100000\n"
        "gateway:\n"
        f"  host: {LOOPBACK}\n"
        "  api_keys:\n"
        f"    - {{key: {key}, name: bench, workspace: bench}}\n"
        "model_list:\n"
        "  - model_name: fake\n"
        f'    litellm_params: {{model: "anthropic/*", api_base: "{fake_url}", api_key: sk-fake-upstream}}\n'
        "routing:\n"
        "  default: fake\n"
    )


def start_gateway(workdir: Path, cpus: Collection[int] | None, fake_url: str, key: str, workers: int = 1) -> Proc:
    """``litellm-gateway serve`` on ``cpus`` (None: wherever the kernel puts it); with ``workers`` > 1 the pid is the
    supervisor's and the workers are its children."""
    port = free_port()
    config = workdir / "gateway.yaml"
    config.write_text(gateway_config(fake_url, key))
    argv = [str(PROJECT_BIN / "litellm-gateway"), "serve", "--config", str(config), "--port", str(port)]
    if workers > 1:
        argv += ["--workers", str(workers)]
    env = {**_base_env(), "XDG_DATA_HOME": str(workdir / "data")}  # any local storage goes to the run's directory
    return _spawn("gateway", f"http://{LOOPBACK}:{port}", argv, workdir / "gateway.log", cpus, env, workdir)


def _one(cpu: int | None) -> tuple[int, ...] | None:
    return None if cpu is None else (cpu,)


def litellm_config(fake_url: str, model: str, master_key: str) -> str:
    return (
        "model_list:\n"
        f"  - model_name: {model}\n"
        "    litellm_params:\n"
        f"      model: anthropic/{model}\n"
        f'      api_base: "{fake_url}"\n'
        "      api_key: sk-fake-upstream\n"
        "general_settings:\n"
        f"  master_key: {master_key}\n"
    )


def start_litellm(workdir: Path, cpu: int | None, fake_url: str, model: str, master_key: str) -> Proc:
    port = free_port()
    config = workdir / "litellm.yaml"
    config.write_text(litellm_config(fake_url, model, master_key))
    argv = [str(LITELLM_BIN), "--config", str(config), "--host", LOOPBACK, "--port", str(port), "--num_workers", "1"]
    env = {**_base_env(), **LITELLM_ENV}
    return _spawn("litellm", f"http://{LOOPBACK}:{port}", argv, workdir / "litellm.log", _one(cpu), env, workdir)


def wait_workers(proc: Proc, workers: int, timeout: float) -> None:
    """With ``workers`` > 1, wait until the supervisor has forked them all and each has its own listening task up:
    every worker process exists and the gateway answered ``/healthcheck`` on a few new connections."""
    if workers <= 1:
        return
    deadline = time.monotonic() + timeout
    while len(process_tree(proc.pid)) < workers + 1:
        if not proc.alive() or time.monotonic() > deadline:
            raise RuntimeError(f"{proc.name}: fewer than {workers} workers running:\n{proc.log_tail()}")
        time.sleep(0.1)
    for _ in range(4 * workers):  # new connections spread over the workers that accept: each answers once ready
        proc.wait_ready("/healthcheck", max(1.0, deadline - time.monotonic()))


def read_fake_url(proc: Proc, timeout: float = 30.0) -> None:
    """The fake prints its URL once it listens; wait for that line."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"fake exited with {proc.popen.returncode}:\n{proc.log_tail()}")
        if proc.log.exists() and proc.url in proc.log.read_text(errors="replace"):
            proc.ready_s = time.perf_counter() - proc.started_at
            return
        time.sleep(0.1)
    raise RuntimeError(f"fake not listening after {timeout:.0f} s:\n{proc.log_tail()}")


# -- /proc --------------------------------------------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    out: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{task}/children") as fh:
                out += [int(c) for c in fh.read().split()]
    return out


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (the LiteLLM CLI may run its server in a child; ``serve --workers N`` forks N)."""
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo += _children(current)
    return tree


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` and its live descendants, in seconds (/proc/<pid>/stat fields 14 and 15)."""
    return sum(cpu_by_process(pid).values())


def cpu_by_process(pid: int) -> dict[int, float]:
    """utime + stime in seconds of ``pid`` and of each live descendant, by pid."""
    out: dict[int, float] = {}
    for member in process_tree(pid):
        with contextlib.suppress(OSError), open(f"/proc/{member}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
            out[member] = (int(fields[11]) + int(fields[12])) / CLK_TCK
    return out


def rss_mb(pid: int) -> float:
    """VmRSS of ``pid`` and its live descendants, in MiB (/proc/<pid>/status); pages that forked workers share with
    their supervisor are counted in each of them."""
    total_kb = 0
    for member in process_tree(pid):
        with contextlib.suppress(OSError), open(f"/proc/{member}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
                    break
    return total_kb / 1024


def system_busy_seconds() -> float:
    """CPU seconds spent busy by all CPUs since boot (/proc/stat: user nice system irq softirq steal)."""
    with open("/proc/stat") as fh:
        fields = [int(v) for v in fh.readline().split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def open_fds(pid: int) -> int:
    """Open file descriptors of ``pid`` and its live descendants; -1 if ``pid`` is gone."""
    total = -1
    for member in process_tree(pid):
        with contextlib.suppress(OSError):
            total = max(total, 0) + len(os.listdir(f"/proc/{member}/fd"))
    return total


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def busy_processes(exclude: set[int], limit: int = 3) -> list[str]:
    """The other processes using the most CPU right now (a 0.5 s sample), for the noise caveat."""

    def snapshot() -> dict[int, tuple[int, str]]:
        out: dict[int, tuple[int, str]] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) in exclude:
                continue
            with contextlib.suppress(OSError, IndexError, ValueError), open(f"/proc/{entry}/stat") as fh:
                raw = fh.read()
                name = raw[raw.index("(") + 1 : raw.rindex(")")]
                fields = raw.rsplit(")", 1)[1].split()
                out[int(entry)] = (int(fields[11]) + int(fields[12]), name)
        return out

    before = snapshot()
    time.sleep(0.5)
    after = snapshot()
    usage = [
        ((ticks - before[pid][0]) / CLK_TCK / 0.5, name)
        for pid, (ticks, name) in after.items()
        if pid in before and pid != os.getpid()
    ]
    usage.sort(reverse=True)
    return [f"{name} {share * 100:.0f}%" for share, name in usage[:limit] if share >= 0.05]


def litellm_version(executable: Path) -> str:
    try:
        out = subprocess.run(
            [str(executable), "-c", "import importlib.metadata as m; print(m.version('litellm'))"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    return out.stdout.strip() or "?"


def source_state() -> str:
    """The commit of the work tree and how many files under gateway/ and handlers/ differ from it (read-only git)."""
    try:
        head = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--", "gateway", "handlers", "spec"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git work tree)"
    return f"{head}" + (
        f" + {len(status)} uncommitted change(s) in gateway/, handlers/, spec/" if status else ", clean"
    )


def interpreter() -> str:
    return f"Python {sys.version.split()[0]}"
