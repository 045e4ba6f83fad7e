"""`init`, `doctor`, `routes list|explain`, `claude` and check-config's output, through the real console script;
doctor probes real fake upstreams on 127.0.0.1 (and a closed port)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import yaml

from bench.fakes import AnthropicFake, Behavior
from tests.gateway_process import free_port

CLI = str(Path(sys.executable).with_name("litellm-gateway"))
ROUTES = """
model_list:
  - {model_name: claude, litellm_params: {model: "anthropic/*"}}
  - {model_name: deepseek, litellm_params: {model: deepseek/deepseek-v4-pro, api_key: sk-deep-secret-1}}
  - {model_name: mimo-auto, litellm_params: {model: mimo_auto/, api_key: sk-mimo-secret-2}}
router_settings: {fallbacks: [{claude: [deepseek]}], model_group_alias: {fast: deepseek}}
routing:
  default: claude
  rules:
    - {tier: haiku, effort: [low, none], group: mimo-auto}
    - {tier: sonnet, effort: [low], group: deepseek}
"""


def _run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("CONFIG_FILE_PATH", "GATEWAY_KEY", "GATEWAY_KEY_FILE")}
    return subprocess.run(
        [CLI, *args], capture_output=True, text=True, timeout=120, env={**base, **(env or {})}, cwd=cwd
    )


def _config(tmp_path: Path, text: str = ROUTES) -> Path:
    path = tmp_path / "gateway.yaml"
    path.write_text(text)
    return path


# -- init / check-config ------------------------------------------------------------------------------------------
def test_init_writes_a_commented_starter_that_check_config_accepts(tmp_path: Path) -> None:
    target = tmp_path / "conf" / "gateway.yaml"
    out = _run("init", str(target))
    assert out.returncode == 0, out.stderr
    text = target.read_text()
    assert sum(line.lstrip().startswith("#") for line in text.splitlines()) > 20  # commented
    checked = _run("check-config", "--config", str(target))
    assert checked.returncode == 0, checked.stderr
    assert "config OK" in checked.stdout
    # sizes as written in the config, not as byte counts
    assert "body limits: 32 MiB, uploads 500 MiB" in checked.stdout
    assert "URL 16 KiB, headers 64 KiB / 100" in checked.stdout
    # progress while the app is built
    assert "check-config: building the app" in checked.stderr
    again = _run("init", str(target))
    assert again.returncode == 2 and "exists" in again.stderr
    assert _run("init", str(target), "--force").returncode == 0


def test_init_default_path_and_config_file_path_variable(tmp_path: Path) -> None:
    assert _run("init", cwd=tmp_path).returncode == 0
    assert (tmp_path / "gateway.yaml").is_file()
    (tmp_path / "gateway.yaml").write_text((tmp_path / "gateway.yaml").read_text().replace("port: 4000", "port: 4123"))
    out = _run("check-config", env={"CONFIG_FILE_PATH": str(tmp_path / "gateway.yaml")})
    assert out.returncode == 0, out.stderr
    assert "listen: 127.0.0.1:4123" in out.stdout
    # --config wins over CONFIG_FILE_PATH
    other = _config(tmp_path / "x" if (tmp_path / "x").mkdir() is None else tmp_path, "gateway: {port: 4555}\n")
    out = _run("check-config", "--config", str(other), env={"CONFIG_FILE_PATH": str(tmp_path / "gateway.yaml")})
    assert "listen: 127.0.0.1:4555" in out.stdout


# -- routes -------------------------------------------------------------------------------------------------------
def test_routes_list_prints_the_whole_table_without_secrets(tmp_path: Path) -> None:
    out = _run("routes", "list", "--config", str(_config(tmp_path)))
    assert out.returncode == 0, out.stderr
    assert "  claude  (fallbacks: deepseek)" in out.stdout
    assert (
        "deepseek/1 [deepseek] https://api.deepseek.com/anthropic model=deepseek-v4-pro (configured key)" in out.stdout
    )
    assert "  1. tier haiku, effort low|none -> mimo-auto" in out.stdout
    assert "  2. tier sonnet, effort low -> deepseek" in out.stdout
    assert "fast -> deepseek" in out.stdout
    assert "default: claude" in out.stdout
    assert "claude-opus" in out.stdout  # the models /v1/models lists
    assert "secret" not in out.stdout


def test_routes_explain_names_the_rule_or_default_and_the_hygiene(tmp_path: Path) -> None:
    config = str(_config(tmp_path))
    out = _run("routes", "explain", "--config", config, "--model", "claude-haiku-4-5", "--effort", "none")
    assert out.returncode == 0, out.stderr
    assert "effort none" in out.stdout
    assert "matched: routing.rules[0] (rule 1): tier haiku, effort low|none -> mimo-auto" in out.stdout
    assert "(thinking off, from the effort table)" in out.stdout
    out = _run("routes", "explain", "--config", config, "--model", "claude-opus-4-7", "--effort", "high")
    assert "matched: default (routing.default: claude; no rule matched)" in out.stdout
    assert "hygiene: body forwarded byte for byte" in out.stdout  # to Anthropic
    out = _run("routes", "explain", "--config", config, "--model", "fast")
    assert "matched: router_settings.model_group_alias: fast -> deepseek" in out.stdout
    assert "secret" not in out.stdout


def test_routes_explain_with_a_request_body(tmp_path: Path) -> None:
    body = {
        "model": "claude-sonnet-4-6",
        "max_tokens": 100,
        "system": [
            {"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1; cch=1;"},
            {"type": "text", "text": "You are Claude Code."},
        ],
        "output_config": {"effort": "low"},
        "context_management": {"edits": []},
        "messages": [{"role": "user", "content": "hi"}],
    }
    request = tmp_path / "request.json"
    request.write_text(json.dumps(body))
    out = _run("routes", "explain", "--config", str(_config(tmp_path)), "--body", str(request))
    assert out.returncode == 0, out.stderr
    assert "model claude-sonnet-4-6: tier sonnet, effort low" in out.stdout
    assert "matched: routing.rules[1] (rule 2): tier sonnet, effort low -> deepseek" in out.stdout
    assert 'hygiene: model: "claude-sonnet-4-6" -> "deepseek-v4-pro"' in out.stdout
    assert "hygiene: context_management removed" in out.stdout
    assert "hygiene: system changed (2 -> 1 entries or their content)" in out.stdout  # billing line stripped
    assert "hygiene: anthropic-beta header dropped" in out.stdout
    # the same body with --effort none: a haiku? no, sonnet with no effort -> default (Anthropic)
    out = _run("routes", "explain", "--config", str(_config(tmp_path)), "--body", str(request), "--effort", "none")
    assert "effort none" in out.stdout and "matched: default" in out.stdout
    bad = tmp_path / "bad.json"
    bad.write_text("[1]")
    out = _run("routes", "explain", "--config", str(_config(tmp_path)), "--body", str(bad))
    assert out.returncode == 2 and "must be a JSON object" in out.stderr


# -- doctor -------------------------------------------------------------------------------------------------------
def test_doctor_reports_reachability_auth_and_latency_per_deployment(tmp_path: Path) -> None:
    with (
        AnthropicFake(Behavior(latency_s=0.05), name="good", validate=False) as good,
        AnthropicFake(Behavior(status=401), name="badkey", validate=False) as badkey,
    ):
        closed = free_port()
        config = _config(
            tmp_path,
            f"""
model_list:
  - {{model_name: main, litellm_params: {{model: "anthropic/*", api_base: "{good.url}", api_key: sk-good-key-123}}}}
  - {{model_name: main, litellm_params: {{model: deepseek/deepseek-v4-pro, api_base: "{badkey.url}/anthropic",
      api_key: sk-wrong-key-456}}}}
  - {{model_name: down, litellm_params: {{model: "anthropic/*", api_base: "http://127.0.0.1:{closed}",
      api_key: sk-any-key-789}}}}
  - {{model_name: own, litellm_params: {{model: "anthropic/*", api_base: "{good.url}"}}}}
routing: {{default: main}}
""",
        )
        out = _run("doctor", "--config", str(config), "--timeout", "5", env={"ANTHROPIC_API_KEY": ""})
        assert out.returncode == 1, out.stdout + out.stderr
        lines = out.stdout.splitlines()
        assert any(line.startswith("  ok   main/1 [anthropic]: reachable, auth ok, HTTP 200 in ") for line in lines)
        assert any("FAIL main/2 [deepseek]: reachable, auth FAILED: HTTP 401 authentication_error" in x for x in lines)
        assert any("FAIL down/1 [anthropic]: unreachable: ConnectError" in line for line in lines)
        assert any("own/1 [anthropic]: not probed: forwards the client's own credential" in x for x in lines)
        assert "sk-" not in out.stdout
        # one tiny request per probed deployment, with the deployment's key, as the gateway would send it
        (sent,) = [r for r in good.requests if r.path.endswith("/v1/messages")]
        assert sent.headers["x-api-key"] == "sk-good-key-123"
        assert json.loads(sent.body)["max_tokens"] == 1
        latency = int(next(x for x in lines if "main/1" in x).rsplit(" in ", 1)[1].split()[0])
        assert latency >= 50
        # with the client's own credential in the environment, the forwarding deployment is probed too
        out = _run("doctor", "--config", str(config), env={"ANTHROPIC_API_KEY": "sk-ant-own-credential"})
        assert any(x.startswith("  ok   own/1 [anthropic]: reachable, auth ok") for x in out.stdout.splitlines())
        assert good.requests[-1].headers["x-api-key"] == "sk-ant-own-credential"


def test_doctor_all_ok_exits_zero(tmp_path: Path) -> None:
    with AnthropicFake(name="good", validate=False) as good:
        config = _config(
            tmp_path,
            f'model_list: [{{model_name: m, litellm_params: {{model: "anthropic/*", api_base: "{good.url}", '
            f"api_key: sk-good-key-123}}}}]\nrouting: {{default: m}}\n",
        )
        out = _run("doctor", "--config", str(config))
        assert out.returncode == 0, out.stdout
        assert out.stdout.strip().endswith("all 1 deployment(s) ok")


# -- claude -------------------------------------------------------------------------------------------------------
def _fake_claude(tmp_path: Path) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "claude"
    script.write_text(
        "#!/usr/bin/env python3\nimport json, os, sys\n"
        "print(json.dumps({'argv': sys.argv[1:], 'env': {k: v for k, v in os.environ.items() "
        "if k.startswith(('ANTHROPIC_', 'CLAUDE_CODE_'))}}))\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return bin_dir


def test_claude_execs_claude_code_pointed_at_the_gateway(tmp_path: Path) -> None:
    bin_dir = _fake_claude(tmp_path)
    config = _config(tmp_path, "gateway: {port: 4321}\n")
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "ANTHROPIC_API_KEY": "sk-ant-own",
        "CLAUDE_CODE_BIN": "",
    }
    out = _run("claude", "--config", str(config), "-p", "hello", "--model", "opus", env=env)
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout)
    assert seen["argv"] == ["-p", "hello", "--model", "opus"]
    assert seen["env"]["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:4321"
    assert seen["env"]["ANTHROPIC_API_KEY"] == "sk-ant-own"  # the user's own credential, untouched
    assert "ANTHROPIC_AUTH_TOKEN" not in seen["env"]  # local mode: no gateway key
    assert seen["env"]["CLAUDE_CODE_ENABLE_GATEWAY_MODEL_DISCOVERY"] == "1"


def test_claude_with_gateway_keys_sends_the_gateway_key_as_bearer(tmp_path: Path) -> None:
    bin_dir = _fake_claude(tmp_path)
    config = _config(
        tmp_path, "gateway: {host: 0.0.0.0, port: 4400, api_keys: [{key: os.environ/GATEWAY_KEY, name: me}]}\n"
    )
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "CLAUDE_CODE_BIN": ""}
    missing = _run("claude", "--config", str(config), env={**env, "GATEWAY_KEY": "sk-gw-0123456789abcdef"})
    seen = json.loads(missing.stdout)
    assert seen["env"]["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:4400"
    assert seen["env"]["ANTHROPIC_AUTH_TOKEN"] == "sk-gw-0123456789abcdef"
    # the key from a bootstrap key file (serve --key-file), config without keys
    key_file = tmp_path / "gateway.key"
    key_file.write_text("sk-gw-fromfile-0123456789\n")
    out = _run(
        "claude",
        "--config",
        str(_config(tmp_path, "gateway: {port: 4401}\n")),
        env={**env, "GATEWAY_KEY_FILE": str(key_file)},
    )
    assert json.loads(out.stdout)["env"]["ANTHROPIC_AUTH_TOKEN"] == "sk-gw-fromfile-0123456789"
    # keys configured (by digest) and no key at hand: stops and says how to give one
    hashed = _config(tmp_path, "gateway: {api_keys: [{key_sha256: '" + "a" * 64 + "', name: me}]}\n")
    out = _run("claude", "--config", str(hashed), env=env)
    assert out.returncode == 2 and "export GATEWAY_KEY=" in out.stderr
    # no claude on PATH: a clear error
    out = _run(
        "claude",
        "--config",
        str(_config(tmp_path, "gateway: {port: 4401}\n")),
        env={"PATH": "/nonexistent", "CLAUDE_CODE_BIN": ""},
    )
    assert out.returncode == 2 and "claude (Claude Code) is not on PATH" in out.stderr


def test_routes_list_reads_yaml_fixture_sections(tmp_path: Path) -> None:
    # the starter config's routing table: one group forwarding every Claude id
    target = tmp_path / "g.yaml"
    _run("init", str(target))
    out = _run("routes", "list", "--config", str(target))
    assert "anthropic/1 [anthropic] https://api.anthropic.com model=the client's model id" in out.stdout
    assert yaml.safe_load(target.read_text())["routing"]["default"] == "anthropic"


# -- completion ---------------------------------------------------------------------------------------------------
def _complete(script: Path, *words: str) -> list[str]:
    array = " ".join(f"'{w}'" for w in ("litellm-gateway", *words))
    program = f"source {script}; COMP_WORDS=({array}); COMP_CWORD={len(words)}; _litellm_gateway; "
    program += 'printf "%s\\n" "${COMPREPLY[@]}"'
    result = subprocess.run(["bash", "-c", program], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    return [line for line in result.stdout.splitlines() if line]


def test_bash_completion_is_generated_from_the_parser(tmp_path: Path) -> None:
    out = _run("completion", "bash")
    assert out.returncode == 0, out.stderr
    script = tmp_path / "litellm-gateway.bash"
    script.write_text(out.stdout)
    assert _complete(script, "ro") == ["routes"]
    assert set(_complete(script, "")) >= {"serve", "check-config", "routes", "init", "doctor", "claude", "completion"}
    assert _complete(script, "routes", "") == ["list", "explain", "--help"]
    assert set(_complete(script, "routes", "explain", "--")) >= {"--config", "--model", "--effort", "--body"}
    assert "--key-file" in _complete(script, "serve", "--k")
    (tmp_path / "gateway.yaml").write_text("")
    assert _complete(script, "serve", "--config", str(tmp_path / "gat")) == [str(tmp_path / "gateway.yaml")]
    assert _run("completion", "zsh").stdout.startswith("autoload -U +X bashcompinit")
