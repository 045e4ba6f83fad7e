"""The ``ops:`` section: defaults, every value checked with the field named, and check-config reporting it."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.cli import main
from gateway.ops.config import OpsConfig, parse_ops
from gateway.settings import ConfigError


def test_defaults_and_values() -> None:
    assert parse_ops({}) == OpsConfig()
    assert OpsConfig().log_format == "json" and OpsConfig().metrics == "key" and OpsConfig().otlp_endpoint is None
    parsed = parse_ops(
        {
            "ops": {
                "log_format": "text",
                "metrics": "open",
                "otlp_endpoint": "http://127.0.0.1:4318/v1/traces",
                "otlp_headers": {"x-tenant": "a"},
                "drain_grace_seconds": 5,
                "drain_announce_seconds": 0,
            }
        }
    )
    assert (
        parsed.log_format == "text" and parsed.drain_grace_seconds == 5.0 and parsed.otlp_headers == {"x-tenant": "a"}
    )


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"log_fmt": "json"}, "ops.log_fmt: unknown key"),
        ({"log_format": "yaml"}, "ops.log_format: must be one of json, text"),
        ({"metrics": True}, "ops.metrics: must be one of key, open, off"),
        ({"otlp_endpoint": "collector:4318"}, "ops.otlp_endpoint: must be an http:// or https:// URL"),
        ({"otlp_headers": {"a": 1}}, "ops.otlp_headers: must be a mapping"),
        ({"drain_grace_seconds": -1}, "ops.drain_grace_seconds: must be a number of seconds"),
        ({"drain_announce_seconds": "5"}, "ops.drain_announce_seconds: must be a number of seconds"),
    ],
)
def test_bad_values_name_the_field(section: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_ops({"ops": section})


def test_check_config_reports_and_checks_ops(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "ops.yaml"
    config.write_text("ops:\n  log_format: text\n  drain_grace_seconds: 12\n", encoding="utf-8")
    assert main(["check-config", "--config", str(config)]) == 0
    assert "ops: text logs, /metrics key, traces off, drain grace 12 s (announce 0 s)" in capsys.readouterr().out
    config.write_text("ops:\n  metrics: public\n", encoding="utf-8")
    assert main(["check-config", "--config", str(config)]) == 2
    assert "ops.metrics: must be one of key, open, off" in capsys.readouterr().err
    assert main(["serve", "--config", str(config)]) == 2  # serve refuses it too, before binding anything
    assert "ops.metrics" in capsys.readouterr().err
