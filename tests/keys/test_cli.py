"""``litellm-gateway keys …`` on the gateway's database, with a gateway process running on it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anthropic
import pytest

from bench.fakes import AnthropicFake
from tests.keys.conftest import ask, config, gateways

SCRIPT = str(Path(sys.executable).with_name("litellm-gateway"))


def cli(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SCRIPT, "keys", *args, "--config", str(path)], capture_output=True, text=True, timeout=60)


def test_keys_cli_against_a_running_gateway(tmp_path: Path, sqlite: dict[str, Any], fake: AnthropicFake) -> None:
    path = config(tmp_path, sqlite, fake.url)
    with gateways(path) as [url]:
        made = cli(path, "generate", "--alias", "carol", "--workspace", "team-c", "--rpm", "100", "--model", "main")
        assert made.returncode == 0, made.stderr
        *report, key = made.stdout.strip().splitlines()
        shown = json.loads("\n".join(report[:-1]))
        assert key.startswith("sk-gw-key-") and shown["key_alias"] == "carol" and shown["rpm_limit"] == 100
        assert ask(url, key).content

        listed = json.loads(cli(path, "list").stdout)
        assert [k["token"] for k in listed["keys"]] == [shown["token"]] and key not in cli(path, "list").stdout
        info = json.loads(cli(path, "info", key).stdout)
        assert info["key"] == shown["token"]
        spend = json.loads(cli(path, "spend", "--group-by", "workspace").stdout)
        deadline = time.monotonic() + 5
        while not spend["totals"] and time.monotonic() < deadline:
            time.sleep(0.2)
            spend = json.loads(cli(path, "spend", "--group-by", "workspace").stdout)
        assert [t["group"] for t in spend["totals"]] == ["team-c"]

        assert cli(path, "update", shown["token"], "--block").returncode == 0
        deadline = time.monotonic() + 7  # a running gateway trusts a key row it read for five seconds
        while time.monotonic() < deadline:
            try:
                ask(url, key)
            except anthropic.AuthenticationError:
                break
            time.sleep(0.5)
        else:
            pytest.fail("the blocked key still worked after 7 s")
        gone = cli(path, "delete", shown["token"])
        assert gone.returncode == 0 and json.loads(gone.stdout) == {"deleted_keys": [shown["token"]]}
        missing = cli(path, "info", shown["token"])
        assert missing.returncode == 1 and "no such virtual key" in missing.stderr
