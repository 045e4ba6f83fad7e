"""Settings: defaults, env resolution, hashing, and error messages that name the field."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import pytest

from gateway.settings import DEFAULT_SPEC_PATH, ConfigError, MiB, Settings, load_settings

PLAIN = "sk-plaintext-never-stored-42424242"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def test_embedded_default_config() -> None:
    settings = load_settings(None)
    assert settings.host == "127.0.0.1"
    assert settings.port == 4000
    assert settings.local_mode and settings.api_keys == ()
    assert settings.validate_responses is False
    assert settings.max_request_body_bytes == 32 * MiB
    assert settings.max_upload_body_bytes == 500 * MiB
    assert settings.spec_path == Path(__file__).resolve().parents[2] / "spec" / "openapi.yaml" == DEFAULT_SPEC_PATH
    assert settings.handlers_package == "handlers"
    assert settings.log_level == "info"


def test_empty_file_gives_defaults(tmp_path: Path) -> None:
    assert load_settings(write(tmp_path, "")) == dataclasses.replace(Settings(), config_path=tmp_path / "config.yaml")


def test_keys_are_hashed_and_plaintext_is_nowhere(tmp_path: Path) -> None:
    config = write(
        tmp_path,
        f"""
gateway:
  api_keys:
    - {{key: "{PLAIN}", name: alice, workspace: research}}
    - {{key: os.environ/GW_TEST_KEY, name: bob}}
""",
    )
    from_env = "sk-from-the-environment-000000"
    settings = load_settings(config, environ={"GW_TEST_KEY": from_env})
    assert not settings.local_mode
    assert [k.key_sha256 for k in settings.api_keys] == [
        hashlib.sha256(PLAIN.encode()).hexdigest(),
        hashlib.sha256(from_env.encode()).hexdigest(),
    ]
    assert [(k.name, k.workspace) for k in settings.api_keys] == [("alice", "research"), ("bob", "default")]
    dumped = repr(settings) + str(dataclasses.asdict(settings))
    assert PLAIN not in dumped and from_env not in dumped


def test_real_environment_is_read_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GW_TEST_PORT", "4321")
    settings = load_settings(write(tmp_path, "gateway: {port: os.environ/GW_TEST_PORT}"))
    assert settings.port == 4321


def test_missing_environment_variable_names_the_field(tmp_path: Path) -> None:
    config = write(
        tmp_path,
        f"""
gateway:
  api_keys:
    - {{key: "{PLAIN}", name: alice, workspace: w}}
    - {{key: os.environ/GW_KEY, name: bob, workspace: w}}
""",
    )
    with pytest.raises(ConfigError) as err:
        load_settings(config, environ={})
    assert str(err.value) == "gateway.api_keys[1].key: environment variable GW_KEY is not set"


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("gateway: {bogus: 1}", "gateway.bogus: unknown key"),
        ("gateway: {port: 70000}", "gateway.port: must be an integer between 0 and 65535"),
        ("gateway: {port: true}", "gateway.port:"),
        ("gateway: {validate_responses: maybe}", "gateway.validate_responses: must be true or false"),
        ("gateway: {max_request_body_bytes: -5}", "gateway.max_request_body_bytes: must be a positive"),
        ("gateway: {log_level: loud}", "gateway.log_level: must be one of"),
        ("gateway: {handlers_package: 'not a package'}", "gateway.handlers_package:"),
        ("gateway: [1, 2]", "gateway: must be a mapping"),
        ("- just a list", "<root>: the config file must be a mapping"),
        ("gateway: {api_keys: {key: x}}", "gateway.api_keys: must be a list"),
        ("gateway: {api_keys: [{name: a}]}", "gateway.api_keys[0]: give exactly one of key or key_sha256"),
        ("gateway: {api_keys: [{key: short, name: a}]}", "gateway.api_keys[0].key: must be at least 16"),
        ("gateway: {api_keys: [{key_sha256: abc, name: a}]}", "gateway.api_keys[0].key_sha256: must be 64"),
        (f"gateway: {{api_keys: [{{key: {PLAIN}}}]}}", "gateway.api_keys[0].name: required"),
        (f"gateway: {{api_keys: [{{key: {PLAIN}, name: a, role: admin}}]}}", "gateway.api_keys[0].role: unknown key"),
        (
            f"gateway: {{api_keys: [{{key: {PLAIN}, name: a}}, {{key: {PLAIN}, name: b}}]}}",
            "gateway.api_keys[1]: same key as gateway.api_keys[0]",
        ),
        ("gateway: {host: os.environ/}", "gateway.host: 'os.environ/' needs a variable name"),
    ],
)
def test_config_errors_name_the_field(tmp_path: Path, yaml_text: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, yaml_text), environ={})
    assert str(err.value).startswith(message), str(err.value)
    assert PLAIN not in str(err.value)


def test_invalid_yaml_reports_position_but_not_the_line(tmp_path: Path) -> None:
    config = write(tmp_path, f'gateway:\n  api_keys:\n    - key: "{PLAIN}\n      name: [unclosed\n')
    with pytest.raises(ConfigError) as err:
        load_settings(config)
    assert str(config) in str(err.value) and "invalid YAML" in str(err.value)
    assert PLAIN not in str(err.value)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_settings(tmp_path / "nope.yaml")


def test_sizes_paths_and_flags(tmp_path: Path) -> None:
    config = write(
        tmp_path,
        """
gateway:
  host: 0.0.0.0
  max_request_body_bytes: 1 MiB
  max_upload_body_bytes: 2048
  spec_path: specs/api.yaml
  validate_responses: true
  log_level: DEBUG
  handlers_package: tests.core.fixtures.handlers
""",
    )
    settings = load_settings(config)
    assert settings.max_request_body_bytes == MiB
    assert settings.max_upload_body_bytes == 2048
    assert settings.spec_path == (tmp_path / "specs" / "api.yaml").resolve()
    assert settings.validate_responses is True
    assert settings.log_level == "debug"
    assert settings.handlers_package == "tests.core.fixtures.handlers"
    assert settings.host == "0.0.0.0"


def test_other_top_level_sections_are_kept_read_only_and_out_of_repr(tmp_path: Path) -> None:
    upstream_secret = "sk-ant-upstream-secret-value"
    config = write(
        tmp_path,
        f"""
model_list:
  - model_name: claude
    litellm_params: {{model: anthropic/claude-x, api_key: {upstream_secret}}}
router_settings: {{num_retries: 0}}
""",
    )
    settings = load_settings(config)
    assert set(settings.raw) == {"model_list", "router_settings"}
    assert settings.raw["model_list"][0]["litellm_params"]["model"] == "anthropic/claude-x"
    assert settings.raw["router_settings"]["num_retries"] == 0
    with pytest.raises(TypeError):
        settings.raw["router_settings"]["num_retries"] = 3
    assert upstream_secret not in repr(settings)


def test_settings_are_frozen() -> None:
    settings = Settings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.port = 1  # type: ignore[misc]
