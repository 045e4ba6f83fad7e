"""Session resources in the sandbox, end to end: a file uploaded through the Files API and a ``github_repository``
(cloned from a local repository: ``runtime.github_base_url`` points at a ``file://`` directory, so no test reaches
github.com) appear at their mount paths on the first built-in call; with networking that does not allow the clone,
the call fails and a ``session.error`` ends the turn."""

from __future__ import annotations

import base64
import http.server
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.fakes import Behavior, Text, ToolUse
from tests.runtime.conftest import Gateway
from tests.runtime.test_cloud_tools import _gateway, _results
from tests.runtime.test_scenarios import TOOLSET, _say

pytestmark = pytest.mark.skipif(
    subprocess.run(["sh", "-c", "command -v bwrap"], capture_output=True).returncode != 0,
    reason="bwrap is not installed (.ci/run installs it)",
)
TOKEN = "ghp_resourcetoken0123456789"


def _git(*args: str, cwd: Path) -> str:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", **env})
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture
def repos(tmp_path: Path) -> Path:
    """``<base>/acme/widgets``: a repository whose ``main`` has one commit and ``feature`` a second."""
    base = tmp_path / "repos"
    repo = base / "acme" / "widgets"
    repo.mkdir(parents=True)
    _git("init", "--quiet", "--initial-branch=main", cwd=repo)
    (repo / "README").write_text("widgets v1\n")
    _git("add", "README", cwd=repo)
    _git("commit", "--quiet", "-m", "one", cwd=repo)
    _git("checkout", "--quiet", "-b", "feature", cwd=repo)
    (repo / "README").write_text("widgets v2\n")
    _git("commit", "--quiet", "-am", "two", cwd=repo)
    _git("checkout", "--quiet", "main", cwd=repo)
    return base


@pytest.fixture
def resource_gateway(sqlite: dict[str, Any], tmp_path: Path, repos: Path) -> Iterator[Gateway]:
    yield from _gateway(sqlite, tmp_path, {"github_base_url": repos.as_uri(), "tool_timeout_s": 20})


def _session(gw: Gateway, networking: dict[str, Any], resources: list[dict[str, Any]]) -> str:
    env = gw.sdk.beta.environments.create(
        name=f"res-{time.monotonic_ns()}",
        config={"type": "cloud", "networking": networking},  # type: ignore[typeddict-item]
    )
    agent = gw.sdk.beta.agents.create(name="coder", model="claude-haiku-5-5", tools=[TOOLSET])  # type: ignore[list-item]
    return gw.sdk.beta.sessions.create(
        agent=agent.id,
        environment_id=env.id,
        resources=resources,  # type: ignore[arg-type]
    ).id


def _first_call_error(gw: Gateway, resources: list[dict[str, Any]]) -> Any:
    """The ``session.error`` of a session (unrestricted networking) whose model's first call is ``bash ls``."""
    session_id = _session(gw, {"type": "unrestricted"}, resources)
    gw.fake.script(Behavior(content=[ToolUse("bash", {"command": "ls"})]))
    _say(gw, session_id, "go")
    events = gw.idle(session_id, timeout=60)
    return next(e for e in events if e.type == "session.error").error


def test_files_and_repositories_are_mounted_on_first_use(resource_gateway: Gateway) -> None:
    gw = resource_gateway
    uploaded = gw.sdk.beta.files.upload(file=("data.csv", b"a,b\n1,2\n", "text/csv"))
    repository = {
        "type": "github_repository",
        "url": "https://github.com/acme/widgets",
        "authorization_token": TOKEN,
        "checkout": {"type": "branch", "name": "feature"},
    }
    resources = [{"type": "file", "file_id": uploaded.id}, repository]
    session_id = _session(gw, {"type": "limited", "allowed_hosts": ["github.com"]}, resources)
    mounted = f"/mnt/session/uploads/{uploaded.id}"
    owners = "id -u; stat -c %u widgets"
    gw.fake.script(
        Behavior(content=[ToolUse("bash", {"command": f"cat {mounted}; cat widgets/README; {owners}"})]),
        Behavior(content=[ToolUse("read", {"file_path": mounted})]),
        Behavior(content=[ToolUse("grep", {"pattern": "^1,", "path": "/mnt/session"})]),
        Behavior(content=[ToolUse("bash", {"command": "cd widgets && git log --format=%s && git status --short"})]),
        Behavior(content=[Text("all there")]),
    )
    _say(gw, session_id, "look at the resources")
    events = gw.idle(session_id, timeout=60)
    assert "session.error" not in [e.type for e in events]
    results = _results(gw, session_id)
    name, is_error, text = results[0]
    lines = text.splitlines()
    assert (name, is_error) == ("bash", False) and lines[:3] == ["a,b", "1,2", "widgets v2"]
    assert lines[3] == lines[4] != "0"  # the clone belongs to the session's (unprivileged) user
    assert results[1] == ("read", False, "a,b\n1,2\n")
    assert results[2] == ("grep", False, f"{mounted}:2:1,2\n")
    assert results[3] == ("bash", False, "two\none\n")  # the branch's history, a clean tree
    # the token went nowhere the model or a client can read
    clone = gw.tmp / "sessions" / session_id / "files" / "widgets"
    assert TOKEN not in (clone / ".git" / "config").read_text()
    listed = gw.sdk.beta.sessions.resources.list(session_id)
    assert TOKEN not in str([r.model_dump() for r in listed])
    assert all(TOKEN not in str(e.model_dump()) for e in events)


def test_a_repository_without_networking_ends_the_turn_with_a_session_error(resource_gateway: Gateway) -> None:
    gw = resource_gateway
    repository = {"type": "github_repository", "url": "https://github.com/acme/widgets", "authorization_token": TOKEN}
    session_id = _session(gw, {"type": "limited", "allowed_hosts": []}, [repository])
    gw.fake.script(Behavior(content=[ToolUse("bash", {"command": "ls"})]))
    _say(gw, session_id, "clone it")
    events = gw.idle(session_id, timeout=60)
    [(name, is_error, text)] = _results(gw, session_id)
    assert name == "bash" and is_error and "does not allow cloning" in text
    error = next(e for e in events if e.type == "session.error").error
    assert error.type == "repository_clone_error" and "allowed_hosts" in error.message
    assert [e.type for e in events][-1] == "session.status_idle"
    time.sleep(1)
    assert len(gw.fake.requests) == 1  # the turn ended with the error: the model was not asked again

    # a repository that does not exist: repository_not_found_error, the turn ends the same way
    missing = {**repository, "url": "https://github.com/acme/nothing"}
    error = _first_call_error(gw, [missing])
    assert error.type == "repository_not_found_error" and "acme/nothing" in error.message


class _GitHttp(http.server.BaseHTTPRequestHandler):
    """``git http-backend`` (smart HTTP) behind a check of the token in GitHub's form
    (``Authorization: Basic base64(x-access-token:<token>)``); everything else gets 401."""

    root: Path
    seen: list[str]

    def _serve(self) -> None:
        expected = "Basic " + base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
        given = self.headers.get("Authorization")
        self.seen.append("token" if given == expected else "other" if given else "none")
        if given != expected:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        path, _, query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        env = {
            "PATH": "/usr/bin:/bin",
            "GIT_PROJECT_ROOT": str(self.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type") or "",
            "CONTENT_LENGTH": str(length),
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding") or "",
            "REMOTE_ADDR": "127.0.0.1",
        }
        done = subprocess.run(["/usr/lib/git-core/git-http-backend"], input=body, capture_output=True, env=env)
        head, _, payload = done.stdout.partition(b"\r\n\r\n")
        status = 200
        headers = []
        for line in head.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.strip().split()[0])
            elif name:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _serve

    def log_message(self, format: str, *args: Any) -> None:
        return None


@pytest.fixture
def git_http(repos: Path) -> Iterator[tuple[str, list[str]]]:
    """The repositories served over smart HTTP on 127.0.0.1; yields (base URL, what each request carried)."""
    seen: list[str] = []
    handler = type("Handler", (_GitHttp,), {"root": repos, "seen": seen})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()


@pytest.fixture
def http_gateway(sqlite: dict[str, Any], tmp_path: Path, git_http: tuple[str, list[str]]) -> Iterator[Gateway]:
    runtime = {"github_base_url": git_http[0], "egress_allowed_networks": ["127.0.0.0/8"], "tool_timeout_s": 20}
    yield from _gateway(sqlite, tmp_path, runtime)


def test_a_private_repository_is_cloned_over_http_with_the_token_in_a_header(
    http_gateway: Gateway, git_http: tuple[str, list[str]]
) -> None:
    gw = http_gateway
    _base, seen = git_http
    repository = {
        "type": "github_repository",
        "url": "https://github.com/acme/widgets",
        "authorization_token": TOKEN,
        "mount_path": "/workspace/src/widgets",
        "checkout": {"type": "commit", "sha": _git("rev-parse", "main", cwd=gw.tmp / "repos" / "acme" / "widgets")},
    }
    session_id = _session(gw, {"type": "limited", "allowed_hosts": ["github.com"]}, [repository])
    gw.fake.script(
        Behavior(content=[ToolUse("bash", {"command": "cat src/widgets/README"})]), Behavior(content=[Text("ok")])
    )
    _say(gw, session_id, "read it")
    gw.idle(session_id, timeout=60)
    assert _results(gw, session_id) == [("bash", False, "widgets v1\n")]  # the pinned commit, on main
    assert seen and set(seen) == {"token"}  # every request carried the token, from the first one on
    assert TOKEN not in (gw.tmp / "sessions" / session_id / "files" / "src" / "widgets" / ".git" / "config").read_text()

    # a token the host refuses: repository_authentication_error, without the token in it
    wrong = {**repository, "authorization_token": "ghp_wrongtoken"}
    error = _first_call_error(gw, [wrong])
    assert error.type == "repository_authentication_error", error.message
    assert "ghp_wrongtoken" not in error.message and "other" in seen
