"""The real Claude Code CLI (`claude -p`, a native binary from npm) as a client of a real gateway process.

    fake upstream (bench.fakes, 127.0.0.1)  <-  litellm-gateway serve  <-  claude -p --output-format json

What is asserted: the CLI's own JSON result, what the fake upstream received (path, model, credentials, hygiene) and
the gateway's per-request log line (the route header is not observable through the CLI).

The CLI is found through `CLAUDE_CODE_BIN` (.ci/run sets it), else `./.cc/node_modules/.bin/claude`, else
`./node_modules/.bin/claude`, else `claude` on PATH. A missing CLI FAILS these tests (CI installs it):
`npm install --no-save --prefix .cc @anthropic-ai/claude-code@2.1.332`.
Behaviour of the CLI these tests rely on: ../shared/reference/claude-code-client-observed.md (2.1.332).

Offline and bounded: the CLI gets a fresh HOME, no inherited environment (no proxies, no real Anthropic key),
`CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1`, `--strict-mcp-config` (else it fetches an MCP registry from
api.anthropic.com), one retry at most, and a hard timeout after which its whole process group is killed.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.fakes import DEFAULT_SIGNATURE, AnthropicFake, Behavior, OpenAIFake, RecordedRequest, Text, Thinking, ToolUse

ROOT = Path(__file__).resolve().parents[2]
GATEWAY_KEY = "sk-gw-claude-code-e2e-0123456789"
BIG_KEY = "sk-upstream-big"
SMALL_KEY = "sk-upstream-small"
OPENAI_KEY = "sk-upstream-openai"
FAKE_TEXT = "Hello from the fake upstream"
BILLING_PREFIX = "x-anthropic-billing-header:"
CLI_TIMEOUT_S = 60.0
INSTALL_HINT = (
    "install it with `npm install --no-save --prefix .cc @anthropic-ai/claude-code@2.1.332` "
    "(as .ci/run does) or point CLAUDE_CODE_BIN at the binary"
)


# -- the CLI ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ClaudeCli:
    path: str
    version: str


@dataclass(frozen=True)
class CliRun:
    args: Sequence[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def output(self) -> dict[str, Any]:
        """The `--output-format json` result object (the last JSON line on stdout)."""
        for line in reversed(self.stdout.strip().splitlines()):
            with contextlib.suppress(ValueError):
                value = json.loads(line)
                if isinstance(value, dict):
                    return value
        pytest.fail(f"claude printed no JSON result: {self.describe()}")

    def describe(self) -> str:
        head = f"claude {' '.join(self.args)} -> rc {self.returncode} in {self.seconds:.1f} s"
        return f"{head}\nstdout: {self.stdout[-3000:]}\nstderr: {self.stderr[-3000:]}"


def _candidates() -> list[str]:
    if os.environ.get("CLAUDE_CODE_BIN"):  # explicit (CI): that binary or a failure, no fallback
        return [os.environ["CLAUDE_CODE_BIN"]]
    found = [str(ROOT / ".cc/node_modules/.bin/claude"), str(ROOT / "node_modules/.bin/claude")]
    on_path = shutil.which("claude")
    return [*found, *([on_path] if on_path else [])]


@pytest.fixture(scope="session")
def claude_cli() -> ClaudeCli:
    candidates = _candidates()
    path = next((c for c in candidates if Path(c).is_file() and os.access(c, os.X_OK)), None)
    if path is None:
        pytest.fail(f"the Claude Code CLI is not installed (looked at {', '.join(candidates)}): {INSTALL_HINT}")
    try:
        with tempfile.TemporaryDirectory(prefix="cc-home-") as home:
            done = subprocess.run([path, "--version"], env=_cli_env(home), capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.fail(f"the Claude Code CLI at {path} does not run ({exc!r}): {INSTALL_HINT}")
    match = re.search(r"\d+\.\d+\.\d+", done.stdout)
    if done.returncode != 0 or match is None:
        pytest.fail(f"`{path} --version` failed (rc {done.returncode}): {done.stdout}{done.stderr}: {INSTALL_HINT}")
    return ClaudeCli(path=path, version=match.group(0))


def _cli_env(home: str, base_url: str | None = None) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": home,
        "LANG": "C.UTF-8",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_ERROR_REPORTING": "1",
        "CLAUDE_CODE_MAX_RETRIES": "1",
        "API_TIMEOUT_MS": "30000",
    }
    if base_url is not None:
        env |= {"ANTHROPIC_BASE_URL": base_url, "ANTHROPIC_API_KEY": GATEWAY_KEY}
    return env


def run_claude(
    cli: ClaudeCli, base_url: str, *args: str, prompt: str = "say hi", env: Mapping[str, str] | None = None
) -> CliRun:
    """`claude -p PROMPT --output-format json --strict-mcp-config ARGS` in a fresh HOME and work dir (``env``
    overrides the CLI's environment, e.g. its retry count)."""
    argv = ["-p", prompt, "--output-format", "json", "--strict-mcp-config", *args]
    with tempfile.TemporaryDirectory(prefix="cc-home-") as home, tempfile.TemporaryDirectory(prefix="cc-work-") as work:
        started = time.monotonic()
        proc = subprocess.Popen(
            [cli.path, *argv],
            env={**_cli_env(home, base_url), **(env or {})},
            cwd=work,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # its own process group: the tools it spawns die with it on timeout
        )
        try:
            stdout, stderr = proc.communicate(timeout=CLI_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # the leader is not reaped yet, so the group id is still ours
            try:
                stdout, stderr = proc.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                stdout, stderr = "", ""
            pytest.fail(f"claude {' '.join(argv)} did not finish within {CLI_TIMEOUT_S:.0f} s\n{stdout}\n{stderr}")
    return CliRun(argv, proc.returncode, stdout, stderr, time.monotonic() - started)


def assert_success(run: CliRun, text: str) -> dict[str, Any]:
    assert run.returncode == 0, run.describe()
    out = run.output
    assert out.get("is_error") is False, run.describe()
    assert out.get("result") == text, run.describe()
    return out


# -- the gateway -----------------------------------------------------------------------------------------------------
@dataclass
class Gateway:
    url: str
    log: Path
    proc: subprocess.Popen[bytes]

    def log_size(self) -> int:
        return self.log.stat().st_size

    def route_lines(self, since: int) -> list[dict[str, Any]]:
        """The access lines of routed requests (JSON log lines, gateway.ops.access) written after byte offset
        ``since``, with the route group also under ``group``."""
        with self.log.open("rb") as handle:
            handle.seek(since)
            tail = handle.read().decode(errors="replace")
        lines = []
        for line in tail.splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and record.get("logger") == "gateway.access" and "route_group" in record:
                lines.append({**record, "group": record["route_group"]})
        return lines


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def gateway_process(config: str, workdir: Path) -> Iterator[Gateway]:
    path = workdir / "config.yaml"
    path.write_text(config, encoding="utf-8")
    log = workdir / "gateway.log"
    port = _free_port()
    script = Path(sys.executable).with_name("litellm-gateway")
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [str(script), "serve", "--config", str(path), "--port", str(port)],
            env={**os.environ, "GW_CC_KEY": GATEWAY_KEY, "PYTHONUNBUFFERED": "1"},
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    gateway = Gateway(f"http://127.0.0.1:{port}", log, proc)
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the gateway did not start (rc {proc.poll()}):\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{gateway.url}/healthcheck", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield gateway
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


GATEWAY_CONFIG = """\
gateway:
  api_keys:
    - {{key: os.environ/GW_CC_KEY, name: claude-code, workspace: e2e}}
model_list:
  - model_name: big
    litellm_params: {{model: "anthropic/*", api_base: "{fake}", api_key: {big}}}
  - model_name: small
    litellm_params: {{model: deepseek/deepseek-v4-flash, api_base: "{fake}/anthropic", api_key: {small}}}
routing:
  default: big
  rules:
    - {{tier: opus, group: big}}
    - {{tier: haiku, group: small}}
    - {{effort: low, group: small}}
"""


@pytest.fixture(scope="session")
def anthropic_upstream() -> Iterator[AnthropicFake]:
    with AnthropicFake(Behavior(content=[Text(FAKE_TEXT)]), name="cc-anthropic-fake") as fake:
        yield fake


@pytest.fixture(scope="session")
def cc_gateway(anthropic_upstream: AnthropicFake, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    config = GATEWAY_CONFIG.format(fake=anthropic_upstream.url, big=BIG_KEY, small=SMALL_KEY)
    with gateway_process(config, tmp_path_factory.mktemp("cc-gateway")) as gateway:
        yield gateway


@pytest.fixture
def fake(anthropic_upstream: AnthropicFake) -> AnthropicFake:
    """The session's Anthropic-wire fake, with no recorded requests and an empty script."""
    anthropic_upstream.reset()
    return anthropic_upstream


# -- helpers on what the fake received -------------------------------------------------------------------------------
def assert_no_gateway_key(requests: Sequence[RecordedRequest]) -> None:
    for request in requests:
        assert all(GATEWAY_KEY not in value for value in request.headers.values()), request.headers
        assert GATEWAY_KEY.encode() not in request.body


def system_texts(body: Mapping[str, Any]) -> list[str]:
    system = body.get("system")
    if isinstance(system, str):
        return [system]
    return [str(block.get("text", "")) for block in system or [] if isinstance(block, dict)]


def blocks(body: Mapping[str, Any], role: str, kind: str) -> list[dict[str, Any]]:
    found = []
    for message in body.get("messages") or []:
        if message.get("role") == role and isinstance(message.get("content"), list):
            found += [b for b in message["content"] if isinstance(b, dict) and b.get("type") == kind]
    return found


def text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(str(b.get("text", "")) for b in content or [] if isinstance(b, dict))


def one_route(gateway: Gateway, since: int) -> dict[str, Any]:
    lines = gateway.route_lines(since)
    assert len(lines) == 1, lines
    return lines[0]


# -- scenarios -------------------------------------------------------------------------------------------------------
def test_opus_goes_to_the_anthropic_route_unchanged(
    claude_cli: ClaudeCli, cc_gateway: Gateway, fake: AnthropicFake
) -> None:
    mark = cc_gateway.log_size()
    run = run_claude(claude_cli, cc_gateway.url, "--model", "opus")
    out = assert_success(run, FAKE_TEXT)
    assert out.get("num_turns") == 1, run.describe()

    requests = fake.requests
    assert [(r.method, r.path) for r in requests] == [("POST", "/v1/messages")], run.describe()
    request = requests[0]
    body = request.json
    assert body["model"] == "claude-opus-5-5"  # anthropic/* forwards the client's id
    assert body["stream"] is True
    assert request.header("x-api-key") == BIG_KEY
    assert request.header("authorization") is None
    assert_no_gateway_key(requests)
    # Anthropic keeps everything: the billing line, the betas, effort and context management as the CLI sent them
    assert system_texts(body)[0].startswith(BILLING_PREFIX)
    assert "claude-code-20250219" in (request.header("anthropic-beta") or "")
    assert body["output_config"] == {"effort": "medium"}
    assert "context_management" in body
    assert request.header("anthropic-version") == "2023-06-01"

    route = one_route(cc_gateway, mark)
    assert (route["tier"], route["effort"], route["group"], route["deployment"]) == ("opus", "medium", "big", "big/1")
    assert (route["status"], route["stream"], route["attempts"]) == (200, True, ["big/1"])


@pytest.mark.parametrize(
    ("args", "tier", "client_effort", "upstream_effort"),
    [
        pytest.param(("--model", "haiku"), "haiku", "medium", "high", id="haiku-by-tier"),
        pytest.param(("--model", "sonnet", "--effort", "low"), "sonnet", "low", "low", id="sonnet-low-by-effort"),
    ],
)
def test_haiku_or_low_effort_goes_to_deepseek_with_hygiene(
    claude_cli: ClaudeCli,
    cc_gateway: Gateway,
    fake: AnthropicFake,
    args: tuple[str, ...],
    tier: str,
    client_effort: str,
    upstream_effort: str,
) -> None:
    mark = cc_gateway.log_size()
    run = run_claude(claude_cli, cc_gateway.url, *args)
    assert_success(run, FAKE_TEXT)

    requests = fake.requests
    assert [(r.method, r.path) for r in requests] == [("POST", "/anthropic/v1/messages")], run.describe()
    request = requests[0]
    body = request.json
    assert body["model"] == "deepseek-v4-flash"
    assert request.header("x-api-key") == SMALL_KEY
    assert_no_gateway_key(requests)
    assert request.header("anthropic-beta") is None
    assert not any(text.startswith(BILLING_PREFIX) for text in system_texts(body)), system_texts(body)[:1]
    assert system_texts(body), "the rest of the system prompt must stay"
    assert "context_management" not in body
    assert body.get("output_config") == {"effort": upstream_effort}  # DeepSeek: low/high/max (medium -> high)

    route = one_route(cc_gateway, mark)
    assert (route["tier"], route["effort"], route["group"], route["deployment"]) == (
        tier,
        client_effort,
        "small",
        "small/1",
    )
    assert route["status"] == 200


@pytest.mark.parametrize(
    ("model", "path", "key"),
    [
        pytest.param("opus", "/v1/messages", BIG_KEY, id="anthropic-route"),
        pytest.param("haiku", "/anthropic/v1/messages", SMALL_KEY, id="deepseek-route"),
    ],
)
def test_tool_turn_runs_bash_and_returns_its_output(
    claude_cli: ClaudeCli, cc_gateway: Gateway, fake: AnthropicFake, model: str, path: str, key: str
) -> None:
    fake.script(
        Behavior(
            content=[
                Thinking("the user wants bash"),
                ToolUse("Bash", {"command": "echo hi-from-bash", "description": "Say hi"}, id="toolu_e2e_bash_01"),
            ]
        ),
        Behavior(content=[Text("bash said hi")]),
    )
    mark = cc_gateway.log_size()
    run = run_claude(claude_cli, cc_gateway.url, "--model", model, "--allowedTools", "Bash", prompt="run echo")
    out = assert_success(run, "bash said hi")
    assert out.get("num_turns") == 2, run.describe()
    assert not out.get("permission_denials"), run.describe()

    requests = fake.requests
    assert [(r.method, r.path) for r in requests] == [("POST", path)] * 2, run.describe()
    assert all(r.header("x-api-key") == key for r in requests)
    assert_no_gateway_key(requests)
    second = requests[1].json
    results = blocks(second, "user", "tool_result")
    assert len(results) == 1, second["messages"]
    assert results[0]["tool_use_id"] == "toolu_e2e_bash_01"
    assert "hi-from-bash" in text_of(results[0].get("content"))
    assert not results[0].get("is_error")
    uses = blocks(second, "assistant", "tool_use")
    assert [(u["id"], u["name"], u["input"]["command"]) for u in uses] == [
        ("toolu_e2e_bash_01", "Bash", "echo hi-from-bash")
    ]
    # the signed thinking block of the tool turn is replayed on both routes (DeepSeek needs its reasoning back)
    thinking = blocks(second, "assistant", "thinking")
    assert [t.get("signature") for t in thinking] == [DEFAULT_SIGNATURE], second["messages"]

    routes = cc_gateway.route_lines(mark)
    assert [r["status"] for r in routes] == [200, 200], routes


# -- upstream errors, as the CLI sees them ---------------------------------------------------------------------------
def assert_cli_error(run: CliRun, status: int) -> str:
    assert run.returncode == 1, run.describe()
    out = run.output
    assert out.get("is_error") is True and out.get("api_error_status") == status, run.describe()
    return str(out.get("result"))


def test_repeated_529_is_reported_by_the_cli_as_overload_of_the_gateway(
    claude_cli: ClaudeCli, cc_gateway: Gateway, fake: AnthropicFake
) -> None:
    fake.default = Behavior(status=529)
    mark = cc_gateway.log_size()
    run = run_claude(claude_cli, cc_gateway.url, "--model", "opus", env={"CLAUDE_CODE_MAX_RETRIES": "2"})
    result = assert_cli_error(run, 529)
    # the CLI's own text for an overloaded upstream (not a generic 502), naming the gateway by host:port
    assert result.startswith("API Error: Repeated 529 Overloaded errors"), run.describe()
    assert "inference gateway" in result and cc_gateway.url.removeprefix("http://") in result, run.describe()
    # no amplification: each of the CLI's 3 attempts is exactly one upstream attempt
    assert len(fake.requests) == 3, run.describe()
    routes = cc_gateway.route_lines(mark)
    assert [(r["status"], r["attempts"]) for r in routes] == [(529, ["big/1"])] * 3, routes


def test_500_keeps_the_upstreams_message_in_the_cli_result(
    claude_cli: ClaudeCli, cc_gateway: Gateway, fake: AnthropicFake
) -> None:
    fake.default = Behavior(status=500, error_message="boom from the fake upstream")
    run = run_claude(claude_cli, cc_gateway.url, "--model", "opus", env={"CLAUDE_CODE_MAX_RETRIES": "2"})
    result = assert_cli_error(run, 500)
    assert result.startswith("API Error: 500 boom from the fake upstream"), run.describe()
    assert len(fake.requests) == 3, run.describe()


def test_x_should_retry_false_stops_the_clis_own_retries(
    claude_cli: ClaudeCli, cc_gateway: Gateway, fake: AnthropicFake
) -> None:
    fake.default = Behavior(status=529, headers={"x-should-retry": "false"})
    run = run_claude(claude_cli, cc_gateway.url, "--model", "opus", env={"CLAUDE_CODE_MAX_RETRIES": "2"})
    result = assert_cli_error(run, 529)
    assert result.startswith("API Error: 529"), run.describe()
    assert "Repeated" not in result, run.describe()
    assert len(fake.requests) == 1, run.describe()  # the upstream's verdict reached the CLI: one attempt in all


def test_cli_headers_and_query_reach_the_upstream(
    claude_cli: ClaudeCli, cc_gateway: Gateway, fake: AnthropicFake
) -> None:
    run = run_claude(claude_cli, cc_gateway.url, "--model", "opus")
    assert_success(run, FAKE_TEXT)
    request = fake.requests[0]
    assert request.query_string == "beta=true"
    assert (request.header("user-agent") or "").startswith("claude-cli/2.1.")
    assert request.header("x-app") == "cli"
    assert request.header("x-stainless-retry-count") == "0"
    assert request.header("x-claude-code-session-id")
    assert request.header("x-api-key") == BIG_KEY
    assert_no_gateway_key(fake.requests)


# -- the OpenAI-wire (litellm-translated) backend --------------------------------------------------------------------
def _translated_backends_built() -> bool:
    """The translated path imports litellm (lazily, only when such a backend is configured); until some module of
    the gateway does, a `kind: litellm` deployment has no translated path behind it."""
    pattern = re.compile(r"^\s*(?:import litellm\b|from litellm\b)", re.MULTILINE)
    return any(pattern.search(p.read_text(encoding="utf-8")) for p in (ROOT / "gateway").rglob("*.py"))


TRANSLATED_CONFIG = """\
gateway:
  api_keys:
    - {{key: os.environ/GW_CC_KEY, name: claude-code, workspace: e2e}}
model_list:
  - model_name: openai
    litellm_params: {{model: openai/gpt-4o-mini, api_base: "{fake}/v1", api_key: {key}}}
routing:
  default: openai
"""


@pytest.mark.skipif(not _translated_backends_built(), reason="translated backends not implemented yet")
def test_openai_wire_backend_with_a_tool_turn(claude_cli: ClaudeCli, tmp_path: Path) -> None:
    with OpenAIFake(name="cc-openai-fake") as upstream:
        upstream.script(
            Behavior(content=[ToolUse("Bash", {"command": "echo hi-from-bash"}, id="call_e2e_bash_01")]),
            Behavior(content=[Text("bash said hi over openai")]),
        )
        with gateway_process(TRANSLATED_CONFIG.format(fake=upstream.url, key=OPENAI_KEY), tmp_path) as gateway:
            mark = gateway.log_size()
            run = run_claude(claude_cli, gateway.url, "--model", "sonnet", "--allowedTools", "Bash", prompt="run echo")
            out = assert_success(run, "bash said hi over openai")
        assert out.get("num_turns") == 2, run.describe()

        requests = upstream.requests
        assert len(requests) == 2, run.describe()
        assert all(r.method == "POST" and r.path.endswith("/chat/completions") for r in requests), requests
        assert all(r.json["model"] == "gpt-4o-mini" for r in requests)
        assert all(r.header("authorization") == f"Bearer {OPENAI_KEY}" for r in requests)
        assert_no_gateway_key(requests)
        messages = requests[1].json["messages"]
        calls = [c for m in messages if m.get("role") == "assistant" for c in m.get("tool_calls") or []]
        assert [(c["id"], c["function"]["name"]) for c in calls] == [("call_e2e_bash_01", "Bash")], messages
        tool = [m for m in messages if m.get("role") == "tool"]
        assert len(tool) == 1 and tool[0]["tool_call_id"] == "call_e2e_bash_01", messages
        assert "hi-from-bash" in text_of(tool[0]["content"])
        assert [r["group"] for r in gateway.route_lines(mark)] == ["openai", "openai"]
