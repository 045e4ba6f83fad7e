"""The built-in toolset on cloud environments, end to end: the real SDK creates an agent, a cloud environment and a
session; the scripted fake model calls ``bash``/``write``/``read``/``edit``/``glob``/``grep``; a real gateway process
runs them in its bubblewrap sandbox, stores ``agent.tool_use`` then ``agent.tool_result``, and the model reads each
result in its next request."""

from __future__ import annotations

import base64
import functools
import hashlib
import http.server
import ipaddress
import socket
import subprocess
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest

from bench.fakes import AnthropicFake, Behavior, Text, ToolUse
from gateway.runtime import packages
from tests.gateway_process import gateway_process
from tests.runtime import scenarios
from tests.runtime.conftest import KEY, Gateway, write_config
from tests.runtime.test_scenarios import TOOLSET, _all_consumed, _say

pytestmark = pytest.mark.skipif(
    subprocess.run(["sh", "-c", "command -v bwrap"], capture_output=True).returncode != 0,
    reason="bwrap is not installed (.ci/run installs it)",
)


def _gateway(storage: dict[str, Any], tmp: Path, runtime: dict[str, Any]) -> Iterator[Gateway]:
    with AnthropicFake(name="session-model") as fake:
        config = write_config(tmp, fake, storage, runtime)
        with gateway_process(config, {}) as (proc, url):
            client = anthropic.Anthropic(base_url=url, api_key=KEY, max_retries=0, _strict_response_validation=True)
            yield Gateway(url, fake, proc, client, tmp, config)


@pytest.fixture
def cloud_gateway(sqlite: dict[str, Any], tmp_path: Path) -> Iterator[Gateway]:
    yield from _gateway(sqlite, tmp_path, {"tool_timeout_s": 20, "max_output_bytes": 2000, "sandbox_file_mb": 64})


@pytest.fixture
def no_executor_gateway(sqlite: dict[str, Any], tmp_path: Path) -> Iterator[Gateway]:
    yield from _gateway(sqlite, tmp_path, {"cloud_executor": "none"})


def _session(gw: Gateway, tools: list[dict[str, Any]], networking: dict[str, Any] | None = None) -> str:
    config: dict[str, Any] = {"type": "cloud", "networking": networking or {"type": "limited", "allowed_hosts": []}}
    env = gw.sdk.beta.environments.create(name=f"cloud-{time.monotonic_ns()}", config=config)  # type: ignore[arg-type]
    agent = gw.sdk.beta.agents.create(name="coder", model="claude-haiku-5-5", tools=tools)  # type: ignore[arg-type]
    return gw.sdk.beta.sessions.create(agent=agent.id, environment_id=env.id).id


def _results(gw: Gateway, session_id: str) -> list[tuple[str, bool, str]]:
    """(tool name, is_error, text) per ``agent.tool_result``, in order."""
    events = gw.events(session_id)
    names = {e.id: e.name for e in events if e.type == "agent.tool_use"}
    out = []
    for event in events:
        if event.type == "agent.tool_result":
            text = "".join(getattr(block, "text", "") for block in event.content or [])
            out.append((names[event.tool_use_id], bool(event.is_error), text))
    return out


def _seen_by_model(gw: Gateway, request: int) -> str:
    """The text of the tool results the model was sent in request number ``request``."""
    last = gw.fake.requests[request].json["messages"][-1]
    parts = [b for b in last["content"] if b.get("type") == "tool_result"]
    return "".join(c.get("text", "") for b in parts for c in b.get("content") or [])


def test_the_toolset_runs_in_the_sandbox_and_the_model_reads_each_result(cloud_gateway: Gateway) -> None:
    gw = cloud_gateway
    session_id = _session(gw, [TOOLSET])
    calls: list[dict[str, Any]] = [
        {"name": "write", "input": {"file_path": "/workspace/notes/a.txt", "content": "alpha\nbeta\n"}},
        {"name": "bash", "input": {"command": "cat notes/a.txt; cd notes; export COLOR=blue; echo gamma >> a.txt"}},
        {"name": "bash", "input": {"command": "pwd; echo $COLOR; id -u"}},
        {"name": "edit", "input": {"file_path": "notes/a.txt", "old_string": "beta", "new_string": "BETA"}},
        {"name": "read", "input": {"file_path": "/workspace/notes/a.txt", "view_range": [2, 3]}},
        {"name": "glob", "input": {"pattern": "**/*.txt"}},
        {"name": "grep", "input": {"pattern": "^gam+a$"}},
        {"name": "bash", "input": {"command": "echo failing; exit 3"}},
        {"name": "bash", "input": {"command": "yes x | head -c 5000"}},
    ]
    gw.fake.script(
        *[Behavior(content=[ToolUse(c["name"], c["input"])]) for c in calls],
        Behavior(content=[Text("all done")]),
    )
    _say(gw, session_id, "work on the notes")
    events = gw.idle(session_id, timeout=60)
    types = [e.type for e in events]
    assert "session.error" not in types, types
    results = _results(gw, session_id)
    assert [name for name, _, _ in results] == [c["name"] for c in calls]
    by_step = dict(enumerate(results))
    assert by_step[0] == ("write", False, "wrote 11 bytes to /workspace/notes/a.txt")
    assert by_step[1] == ("bash", False, "alpha\nbeta\n")
    pwd, color, uid = by_step[2][2].split()
    assert (pwd, color) == ("/workspace/notes", "blue")  # the shell's directory and exports carry over
    assert uid != "0"  # commands never run as root
    assert by_step[3] == ("edit", False, "edited notes/a.txt (1 replacement(s))")
    assert by_step[4] == ("read", False, "BETA\ngamma")
    assert by_step[5] == ("glob", False, "/workspace/notes/a.txt")
    assert by_step[6] == ("grep", False, "/workspace/notes/a.txt:3:gamma\n")
    assert by_step[7] == ("bash", True, "failing\n[exit code 3]")
    _name, is_error, text = by_step[8]
    assert not is_error and text.startswith("x\nx\n") and text.endswith("\n[output truncated: 3000 more bytes]")
    # each tool_use is followed by its result, and the model's next request carries it
    for index, (_, _, text) in enumerate(results):
        assert _seen_by_model(gw, index + 1) == text
    uses = [i for i, t in enumerate(types) if t == "agent.tool_use"]
    done = [i for i, t in enumerate(types) if t == "agent.tool_result"]
    assert all(u < r for u, r in zip(uses, done, strict=True))
    _all_consumed(gw, len(calls) + 1)

    # a second turn sees the same files (kept between turns), and the sandbox still confines the model
    gw.fake.script(
        Behavior(content=[ToolUse("bash", {"command": "cat /workspace/notes/a.txt; echo x > /etc/gw-escape"})]),
        Behavior(content=[ToolUse("read", {"file_path": "/etc/passwd"})]),
        Behavior(content=[Text("second turn done")]),
    )
    _say(gw, session_id, "again")
    gw.idle(session_id, timeout=60, count=2)
    second = _results(gw, session_id)[len(calls) :]
    assert second[0][0] == "bash" and second[0][1] is True
    assert second[0][2].startswith("alpha\nBETA\ngamma\n") and "Read-only file system" in second[0][2]
    assert second[1] == ("read", True, "read: /etc/passwd is outside the working directory /workspace")
    assert not Path("/etc/gw-escape").exists()
    workdir = gw.tmp / "sessions" / session_id / "files"
    assert (workdir / "notes" / "a.txt").read_text() == "alpha\nBETA\ngamma\n"

    gw.sdk.beta.sessions.delete(session_id)
    assert not (gw.tmp / "sessions" / session_id).exists()  # the session's files go with it


def test_the_sdk_stream_observes_the_turn(cloud_gateway: Gateway) -> None:
    gw = cloud_gateway
    session_id = _session(gw, [TOOLSET])
    gw.fake.script(
        Behavior(content=[Text("running it"), ToolUse("bash", {"command": "echo streamed"})]),
        Behavior(content=[Text("it printed streamed", chunks=2)]),
    )
    out = scenarios.run("deltas", {"base_url": gw.url, "key": KEY, "session_id": session_id, "text": "go"})
    types = out["types"]
    assert types.index("agent.tool_use") < types.index("agent.tool_result") < types.index("session.status_idle")
    assert out["final"] == "it printed streamed"
    assert _results(gw, session_id) == [("bash", False, "streamed\n")]


def test_disabled_tools_are_not_offered_and_always_ask_waits_for_a_confirmation(cloud_gateway: Gateway) -> None:
    gw = cloud_gateway
    toolset = {
        "type": "agent_toolset_20260401",
        "configs": [
            {"name": "write", "enabled": False},
            {"name": "bash", "permission_policy": {"type": "always_ask"}},
        ],
    }
    session_id = _session(gw, [toolset])
    gw.fake.script(
        Behavior(content=[ToolUse("bash", {"command": "echo confirmed"})]),
        Behavior(content=[Text("ok")]),
    )
    _say(gw, session_id, "run it")
    events = gw.idle(session_id, reason="requires_action")
    offered = {t["name"] for t in gw.fake.requests[0].json["tools"]}
    assert offered == {"bash", "read", "edit", "glob", "grep", "web_fetch", "web_search"}
    call = next(e for e in events if e.type == "agent.tool_use")
    assert call.evaluated_permission == "ask"
    assert not _results(gw, session_id)  # nothing runs before the confirmation
    gw.sdk.beta.sessions.events.send(
        session_id, events=[{"type": "user.tool_confirmation", "tool_use_id": call.id, "result": "allow"}]
    )
    gw.idle(session_id)
    assert _results(gw, session_id) == [("bash", False, "confirmed\n")]
    _all_consumed(gw, 2)


def test_without_an_executor_a_builtin_call_ends_the_turn_naming_the_setting(no_executor_gateway: Gateway) -> None:
    gw = no_executor_gateway
    session_id = _session(gw, [TOOLSET])
    gw.fake.script(Behavior(content=[ToolUse("bash", {"command": "true"})]))
    _say(gw, session_id, "run it")
    events = gw.idle(session_id)
    error = next(e for e in events if e.type == "session.error")
    assert "runtime.cloud_executor" in error.error.message
    assert not _results(gw, session_id)


def test_limits_stop_a_fork_bomb_and_a_huge_write_and_the_gateway_keeps_answering(cloud_gateway: Gateway) -> None:
    gw = cloud_gateway
    session_id = _session(gw, [TOOLSET])
    bomb = "bomb() { bomb | bomb & }; bomb; sleep 3; echo survived"
    gw.fake.script(
        Behavior(content=[ToolUse("bash", {"command": bomb, "timeout_ms": 6000})]),
        Behavior(content=[ToolUse("bash", {"command": "head -c 10G /dev/zero > big; ls -l big"})]),
        Behavior(content=[Text("done")]),
    )
    _say(gw, session_id, "misbehave")
    started = time.monotonic()
    while time.monotonic() - started < 3:  # the gateway answers while the bomb runs
        assert gw.sdk.beta.sessions.retrieve(session_id).id == session_id
        time.sleep(0.2)
    gw.idle(session_id, timeout=60)
    (_, _, bombed), (_, big_error, big) = _results(gw, session_id)
    assert "Resource temporarily unavailable" in bombed or "timed out" in bombed
    assert big_error is False and "File size limit exceeded" in big
    assert (gw.tmp / "sessions" / session_id / "files" / "big").stat().st_size <= 64 * 1024 * 1024
    assert gw.proc.poll() is None  # the gateway process lives on
    _all_consumed(gw, 3)


def test_two_sessions_run_tools_at_the_same_time_each_in_its_own_directory(cloud_gateway: Gateway) -> None:
    gw = cloud_gateway
    first, second = _session(gw, [TOOLSET]), _session(gw, [TOOLSET])
    # each call sleeps 2 s: run one after the other, the two turns would take 4 s or more
    command = "sleep 2; echo {name} > mine.txt; ls"
    gw.fake.script(
        Behavior(content=[ToolUse("bash", {"command": command.format(name="first")})]),
        Behavior(content=[ToolUse("bash", {"command": command.format(name="second")})]),
        Behavior(content=[Text("done")]),
        Behavior(content=[Text("done")]),
    )
    started = time.monotonic()
    _say(gw, first, "go")
    _say(gw, second, "go")
    gw.idle(first, timeout=30)
    gw.idle(second, timeout=30)
    elapsed = time.monotonic() - started
    assert _results(gw, first)[0][2] == "mine.txt\n" and _results(gw, second)[0][2] == "mine.txt\n"
    contents = {(gw.tmp / "sessions" / s / "files" / "mine.txt").read_text() for s in (first, second)}
    assert contents == {"first\n", "second\n"}
    assert elapsed < 4, elapsed


def _wheel(directory: Path) -> str:
    """A one-module wheel (``gwtiny``, ``VALUE = 42``) written to ``directory``; returns its file name."""
    name = "gwtiny-1.0-py3-none-any.whl"
    files = {
        "gwtiny/__init__.py": b"VALUE = 42\n",
        "gwtiny-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: gwtiny\nVersion: 1.0\n",
        "gwtiny-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append("gwtiny-1.0.dist-info/RECORD,,")
    with zipfile.ZipFile(directory / name, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
        archive.writestr("gwtiny-1.0.dist-info/RECORD", "\n".join(record) + "\n")
    return name


@pytest.fixture
def wheel_server(tmp_path: Path) -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 serving one wheel; yields its URL."""
    served = tmp_path / "wheels"
    served.mkdir()
    name = _wheel(served)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/{name}"
    server.shutdown()


@pytest.fixture
def egress_gateway(sqlite: dict[str, Any], tmp_path: Path) -> Iterator[Gateway]:
    yield from _gateway(sqlite, tmp_path, {"egress_allowed_networks": ["127.0.0.0/8"]})


def test_pip_packages_are_installed_once_per_environment_when_networking_allows(
    egress_gateway: Gateway, wheel_server: str
) -> None:
    gw = egress_gateway
    pip = {"type": "packages", "pip": [f"gwtiny @ {wheel_server}"]}
    allowed = {"type": "limited", "allowed_hosts": ["127.0.0.1"], "allow_package_managers": True}
    config: dict[str, Any] = {"type": "cloud", "networking": allowed, "packages": pip}
    env = gw.sdk.beta.environments.create(name="with-packages", config=config)  # type: ignore[arg-type]
    agent = gw.sdk.beta.agents.create(name="coder", model="claude-haiku-5-5", tools=[TOOLSET])  # type: ignore[list-item]
    sessions = [gw.sdk.beta.sessions.create(agent=agent.id, environment_id=env.id).id for _ in range(2)]
    probe = {"command": "python3 -c 'import gwtiny; print(gwtiny.VALUE)'"}
    gw.fake.script(
        Behavior(content=[ToolUse("bash", probe)]),
        Behavior(content=[Text("done")]),
    )
    _say(gw, sessions[0], "use the package")
    gw.idle(sessions[0], timeout=120)
    assert _results(gw, sessions[0]) == [("bash", False, "42\n")]
    installed = list((gw.tmp / "sessions" / ".packages").iterdir())
    assert len(installed) == 1 and installed[0].name.startswith(env.id)
    stamp = (installed[0] / ".installed").stat().st_mtime
    gw.fake.script(Behavior(content=[ToolUse("bash", probe)]), Behavior(content=[Text("done")]))
    _say(gw, sessions[1], "use it again")
    gw.idle(sessions[1], timeout=60)
    assert _results(gw, sessions[1]) == [("bash", False, "42\n")]
    assert (installed[0] / ".installed").stat().st_mtime == stamp  # the second session reused the install

    # without allow_package_managers the packages cannot be installed: the model reads why
    closed = {"type": "limited", "allowed_hosts": ["127.0.0.1"]}
    config = {"type": "cloud", "networking": closed, "packages": pip}
    env = gw.sdk.beta.environments.create(name="no-managers", config=config)  # type: ignore[arg-type]
    session_id = gw.sdk.beta.sessions.create(agent=agent.id, environment_id=env.id).id
    gw.fake.script(Behavior(content=[ToolUse("bash", probe)]), Behavior(content=[Text("done")]))
    _say(gw, session_id, "try")
    gw.idle(session_id, timeout=60)
    [(_name, is_error, text)] = _results(gw, session_id)
    assert is_error and "allow_package_managers" in text


def _not_on_host(*packages: str) -> None:
    for name in packages:
        done = subprocess.run(["dpkg-query", "-W", "-f", "${Status}", name], capture_output=True, text=True)
        assert "installed" not in done.stdout.split(), f"{name} is installed on this machine: pick another package"


@pytest.fixture
def apt_gateway(sqlite: dict[str, Any], tmp_path: Path) -> Iterator[Gateway]:
    """A gateway whose egress proxy may reach this machine's apt sources even where they resolve to a non-public
    address (a local mirror: on the build machines deb.debian.org answers from 203.0.113.80), as an operator would
    configure it with ``egress_allowed_networks``."""
    addresses = {info[4][0] for host in packages.apt_hosts() for info in socket.getaddrinfo(host, 80)}
    local = sorted(f"{a}/{128 if ':' in a else 32}" for a in addresses if not ipaddress.ip_address(a).is_global)
    yield from _gateway(sqlite, tmp_path, {"tool_timeout_s": 20, "egress_allowed_networks": local})


def test_apt_packages_are_downloaded_and_unpacked_once_per_environment(apt_gateway: Gateway) -> None:
    """A real Debian package (and the library it needs that this machine lacks) from the machine's apt sources
    through the egress proxy, as .ci/run's ``apt-get install``: no registry, no pass."""
    gw = apt_gateway
    _not_on_host("qrencode", "libqrencode4")
    allowed = {"type": "limited", "allowed_hosts": [], "allow_package_managers": True}
    config: dict[str, Any] = {"type": "cloud", "networking": allowed, "packages": {"apt": ["qrencode"]}}
    env = gw.sdk.beta.environments.create(name="with-apt", config=config)  # type: ignore[arg-type]
    agent = gw.sdk.beta.agents.create(name="coder", model="claude-haiku-5-5", tools=[TOOLSET])  # type: ignore[list-item]
    sessions = [gw.sdk.beta.sessions.create(agent=agent.id, environment_id=env.id).id for _ in range(2)]
    draw = "command -v qrencode; qrencode -t ASCII -o - gw | grep -c '##'"
    probe = {"command": f"{draw}; touch /usr/x /opt/gw-packages/x"}
    for session_id in sessions:
        gw.fake.script(Behavior(content=[ToolUse("bash", probe)]), Behavior(content=[Text("done")]))
        _say(gw, session_id, "make a QR code")
        events = gw.idle(session_id, timeout=300)
        assert "session.error" not in [e.type for e in events], [e.error for e in events if e.type == "session.error"]
        [(name, is_error, text)] = _results(gw, session_id)
        lines = text.splitlines()
        assert name == "bash" and lines[0] == "/opt/gw-packages/apt/root/usr/bin/qrencode", text
        assert int(lines[1]) >= 17, text  # a version-1 code (21 rows, most with a dark run) drawn by the library
        assert is_error and "Read-only file system" in text  # neither the host nor the packages are writable
        if session_id == sessions[0]:
            [installed] = list((gw.tmp / "sessions" / ".packages").iterdir())
            stamp = (installed / ".installed").stat().st_mtime
    assert (installed / ".installed").stat().st_mtime == stamp  # the second session reused the install
    debs = sorted(p.name.split("_")[0] for p in (installed / "apt" / "debs").iterdir())
    assert debs == ["libqrencode4", "qrencode"]  # the dependency the host lacks came along

    # a package the registry does not have, and a manager this gateway does not run: a session.error each
    for listed, expected in (
        ({"apt": ["gw-no-such-package"]}, ["gw-no-such-package", "Unable to locate package"]),
        ({"cargo": ["ripgrep"]}, ["cargo: ripgrep", "toolchains"]),
    ):
        config = {"type": "cloud", "networking": allowed, "packages": listed}
        env = gw.sdk.beta.environments.create(name=f"bad-{time.monotonic_ns()}", config=config)  # type: ignore[arg-type]
        session_id = gw.sdk.beta.sessions.create(agent=agent.id, environment_id=env.id).id
        gw.fake.script(Behavior(content=[ToolUse("bash", probe)]))  # the error ends the turn: no second request
        _say(gw, session_id, "try")
        events = gw.idle(session_id, timeout=120)
        [(_name, is_error, text)] = _results(gw, session_id)
        error = next(e for e in events if e.type == "session.error").error
        assert is_error and all(part in text and part in error.message for part in expected), error.message
        assert error.retry_status.type == "exhausted" and [e.type for e in events][-1] == "session.status_idle"


def test_symlinks_do_not_carry_the_file_tools_out_of_the_session_directory(cloud_gateway: Gateway) -> None:
    gw = cloud_gateway
    session_id = _session(gw, [TOOLSET])
    outside = gw.tmp / "outside.txt"
    outside.write_text("host file")
    calls = [
        ToolUse("bash", {"command": f"ln -s / hostroot; ln -s {outside} out.txt; ln -s {gw.tmp} tmpdir"}),
        ToolUse("read", {"file_path": "out.txt"}),
        ToolUse("write", {"file_path": "tmpdir/new.txt", "content": "x"}),
        ToolUse("edit", {"file_path": "out.txt", "old_string": "host", "new_string": "model"}),
        ToolUse("glob", {"pattern": "**/outside.txt"}),
        ToolUse("grep", {"pattern": "host file"}),
    ]
    gw.fake.script(*[Behavior(content=[c]) for c in calls], Behavior(content=[Text("done")]))
    _say(gw, session_id, "look around")
    gw.idle(session_id, timeout=60)
    results = _results(gw, session_id)
    assert results[0] == ("bash", False, "(no output)")
    outside_error = "is outside the working directory /workspace"
    assert results[1][1] and outside_error in results[1][2]
    assert results[2][1] and outside_error in results[2][2]
    assert results[3][1] and outside_error in results[3][2]
    assert results[4] == ("glob", False, "no matches")
    assert results[5] == ("grep", False, "no matches")
    assert outside.read_text() == "host file" and not (gw.tmp / "new.txt").exists()


def test_an_interrupt_stops_a_running_command(cloud_gateway: Gateway) -> None:
    gw = cloud_gateway
    session_id = _session(gw, [TOOLSET])
    gw.fake.script(Behavior(content=[ToolUse("bash", {"command": "sleep 349"})]))
    _say(gw, session_id, "wait")
    gw.wait_for(session_id, lambda events: any(e.type == "agent.tool_use" for e in events))
    time.sleep(1)
    gw.sdk.beta.sessions.events.send(session_id, events=[{"type": "user.interrupt"}])
    gw.idle(session_id, timeout=15)
    assert not _results(gw, session_id)  # abandoned with the turn
    time.sleep(0.5)
    assert "sleep 349" not in subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
