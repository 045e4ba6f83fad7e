"""Vaults and credentials through the official SDK (strict response validation) on SQLite and PostgreSQL, the
encryption of credential secrets at rest (gateway.storage.secrets), and a grep of a real `litellm-gateway serve`
process's responses, logs and database for a credential's secret values."""

from __future__ import annotations

import asyncio
import secrets as random
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anthropic
import httpx
import pytest
import yaml
from cryptography.fernet import Fernet

from gateway.storage import config as storage_config_module
from gateway.storage import secrets
from gateway.storage.config import StorageConfig
from tests.gateway_process import debug_gateway
from tests.storage.conftest import KEY_A, KEY_B, PG_URL, http, pages_of, running_gateway, sdk

SECRET_KEY = Fernet.generate_key().decode()


@pytest.fixture
def vault_gateway(database: dict[str, Any]) -> Iterator[str]:
    with running_gateway({**database, "secret_key": SECRET_KEY}) as url:
        yield url


def _future(hours: int = 1) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_vault_lifecycle(vault_gateway: str) -> None:
    client = sdk(vault_gateway)
    vault = client.beta.vaults.create(display_name="prod", metadata={"team": "a", "env": "prod"})
    assert vault.id.startswith("vlt_") and vault.type == "vault" and vault.archived_at is None
    assert vault.display_name == "prod" and vault.metadata == {"team": "a", "env": "prod"}
    assert client.beta.vaults.retrieve(vault.id).model_dump() == vault.model_dump()

    updated = client.beta.vaults.update(vault.id, display_name="production", metadata={"team": None, "x": "1"})
    assert updated.display_name == "production" and updated.metadata == {"env": "prod", "x": "1"}
    kept = client.beta.vaults.update(vault.id, display_name=None)
    assert kept.display_name == "production" and kept.updated_at >= updated.updated_at

    more = [client.beta.vaults.create(display_name=f"v{i}") for i in range(5)]
    pages = pages_of(client.beta.vaults.list(limit=2))
    assert [len(p) for p in pages] == [2, 2, 2]
    assert [v.id for p in pages for v in p] == [v.id for v in reversed([vault, *more])]

    credential = client.beta.vaults.credentials.create(
        vault.id, auth={"type": "static_bearer", "mcp_server_url": "https://mcp.example.com", "token": "t0k"}
    )
    archived = client.beta.vaults.archive(vault.id)
    assert archived.archived_at is not None and archived.display_name == "production"
    with pytest.raises(anthropic.BadRequestError):
        client.beta.vaults.update(vault.id, display_name="again")
    with pytest.raises(anthropic.BadRequestError):  # an archived vault takes no new credentials
        client.beta.vaults.credentials.create(
            vault.id, auth={"type": "static_bearer", "mcp_server_url": "https://mcp.example.com", "token": "t"}
        )
    with pytest.raises(anthropic.BadRequestError):  # ... and its credentials are read-only
        client.beta.vaults.credentials.update(credential.id, vault_id=vault.id, display_name="x")
    assert client.beta.vaults.credentials.retrieve(credential.id, vault_id=vault.id).id == credential.id
    listed = {v.id for p in pages_of(client.beta.vaults.list(limit=2)) for v in p}
    assert vault.id not in listed and len(listed) == 5
    assert vault.id in {v.id for p in pages_of(client.beta.vaults.list(include_archived=True)) for v in p}
    assert client.beta.vaults.retrieve(vault.id).archived_at == archived.archived_at
    assert client.beta.vaults.archive(vault.id).archived_at == archived.archived_at  # idempotent

    deleted = client.beta.vaults.delete(vault.id)
    assert deleted.id == vault.id and deleted.type == "vault_deleted"
    for call in (
        lambda: client.beta.vaults.retrieve(vault.id),
        lambda: client.beta.vaults.delete(vault.id),
        lambda: client.beta.vaults.update(vault.id, display_name="x"),
        lambda: client.beta.vaults.archive(vault.id),
        lambda: client.beta.vaults.credentials.list(vault.id),
        lambda: client.beta.vaults.credentials.retrieve(credential.id, vault_id=vault.id),
    ):
        with pytest.raises(anthropic.NotFoundError):
            call()
    with pytest.raises(anthropic.NotFoundError):
        client.beta.vaults.retrieve("vlt_\x00nul")
    assert vault.id not in {v.id for p in pages_of(client.beta.vaults.list(include_archived=True)) for v in p}


def test_credential_lifecycle(vault_gateway: str) -> None:
    client = sdk(vault_gateway)
    vault = client.beta.vaults.create(display_name="creds")
    other = client.beta.vaults.create(display_name="other")
    creds = client.beta.vaults.credentials

    oauth = creds.create(
        vault.id,
        display_name="linear",
        metadata={"k": "v"},
        auth={
            "type": "mcp_oauth",
            "mcp_server_url": "https://mcp.linear.app/mcp",
            "access_token": "at-1",
            "expires_at": _future(),
            "refresh": {
                "client_id": "cid",
                "refresh_token": "rt-1",
                "token_endpoint": "https://linear.app/oauth/token",
                "token_endpoint_auth": {"type": "client_secret_post", "client_secret": "cs-1"},
                "scope": "read",
            },
        },
    )
    assert oauth.id.startswith("vcrd_") and oauth.type == "vault_credential" and oauth.vault_id == vault.id
    assert oauth.display_name == "linear" and oauth.metadata == {"k": "v"} and oauth.archived_at is None
    auth = oauth.model_dump()["auth"]
    assert auth["type"] == "mcp_oauth" and auth["mcp_server_url"] == "https://mcp.linear.app/mcp"
    assert auth["expires_at"] is not None and auth["refresh"] == {
        "client_id": "cid",
        "token_endpoint": "https://linear.app/oauth/token",
        "token_endpoint_auth": {"type": "client_secret_post"},
        "resource": None,
        "scope": "read",
    }
    raw = http(vault_gateway).get(f"/v1/vaults/{vault.id}/credentials/{oauth.id}").json()
    assert not {"at-1", "rt-1", "cs-1"} & set(_strings(raw))  # no secret in the wire body, nowhere
    assert creds.retrieve(oauth.id, vault_id=vault.id).model_dump() == oauth.model_dump()

    bearer = creds.create(
        vault.id, auth={"type": "static_bearer", "mcp_server_url": "https://mcp.example.com", "token": "tok"}
    )
    assert bearer.model_dump()["auth"] == {"type": "static_bearer", "mcp_server_url": "https://mcp.example.com"}
    assert bearer.display_name is None and bearer.metadata == {}
    env = creds.create(
        vault.id,
        auth={
            "type": "environment_variable",
            "secret_name": "GITHUB_TOKEN",
            "secret_value": "ghp",
            "networking": {"type": "limited", "allowed_hosts": ["api.github.com"]},
        },
    )
    assert env.model_dump()["auth"] == {
        "type": "environment_variable",
        "secret_name": "GITHUB_TOKEN",
        "networking": {"type": "limited", "allowed_hosts": ["api.github.com"]},
        "injection_location": {"header": True, "body": False},
    }
    more = [
        creds.create(vault.id, auth={"type": "static_bearer", "mcp_server_url": f"https://m{i}", "token": "x"})
        for i in range(3)
    ]
    elsewhere = creds.create(other.id, auth={"type": "static_bearer", "mcp_server_url": "https://o", "token": "y"})
    pages = pages_of(creds.list(vault.id, limit=2))
    assert [len(p) for p in pages] == [2, 2, 2]
    assert [c.id for p in pages for c in p] == [c.id for c in reversed([oauth, bearer, env, *more])]
    assert [c.id for c in creds.list(other.id).data] == [elsewhere.id]
    with pytest.raises(anthropic.NotFoundError):  # a credential is addressed through its own vault only
        creds.retrieve(oauth.id, vault_id=other.id)

    # updates: secrets write-only (omit/null = keep), non-secret fields patched, type and url immutable
    updated = creds.update(
        oauth.id,
        vault_id=vault.id,
        display_name=None,
        metadata={"k": None, "n": "1"},
        auth={
            "type": "mcp_oauth",
            "access_token": "at-2",
            "refresh": {"scope": "", "token_endpoint_auth": {"type": "client_secret_basic"}},
        },
    )
    assert updated.display_name is None and updated.metadata == {"n": "1"}
    refresh = updated.model_dump()["auth"]["refresh"]
    assert refresh["scope"] is None and refresh["token_endpoint_auth"] == {"type": "client_secret_basic"}
    assert refresh["client_id"] == "cid" and updated.updated_at >= oauth.updated_at
    env2 = creds.update(
        env.id,
        vault_id=vault.id,
        auth={"type": "environment_variable", "injection_location": {"body": True}, "networking": None},
    )
    assert env2.model_dump()["auth"]["injection_location"] == {"header": True, "body": True}
    assert env2.model_dump()["auth"]["networking"]["type"] == "limited"
    for bad in (
        {"type": "static_bearer", "token": "z"},  # another type
        {"type": "environment_variable", "injection_location": {"header": False, "body": False}},
    ):
        with pytest.raises(anthropic.BadRequestError):
            creds.update(env.id, vault_id=vault.id, auth=bad)  # type: ignore[arg-type]
    with pytest.raises(anthropic.BadRequestError):  # expires_at must be in the future
        creds.create(
            vault.id,
            auth={
                "type": "mcp_oauth",
                "mcp_server_url": "u",
                "access_token": "a",
                "expires_at": "2001-01-01T00:00:00Z",
            },
        )
    with pytest.raises(anthropic.BadRequestError):  # no refresh configuration to update
        creds.update(
            _oauth_without_refresh(client, vault.id).id,
            vault_id=vault.id,
            auth={"type": "mcp_oauth", "refresh": {"refresh_token": "r"}},
        )

    # validation: local checks only
    check = creds.mcp_oauth_validate(oauth.id, vault_id=vault.id)
    assert check.type == "vault_credential_validation" and check.credential_id == oauth.id
    assert check.vault_id == vault.id and check.has_refresh_token is True and check.status == "unknown"
    assert check.mcp_probe is None and check.refresh is None
    with pytest.raises(anthropic.BadRequestError):
        creds.mcp_oauth_validate(bearer.id, vault_id=vault.id)

    archived = creds.archive(bearer.id, vault_id=vault.id)
    assert archived.archived_at is not None
    with pytest.raises(anthropic.BadRequestError):
        creds.update(bearer.id, vault_id=vault.id, display_name="x")
    assert bearer.id not in {c.id for p in pages_of(creds.list(vault.id, limit=2)) for c in p}
    assert bearer.id in {c.id for p in pages_of(creds.list(vault.id, include_archived=True)) for c in p}

    deleted = creds.delete(oauth.id, vault_id=vault.id)
    assert deleted.id == oauth.id and deleted.type == "vault_credential_deleted"
    for call in (
        lambda: creds.retrieve(oauth.id, vault_id=vault.id),
        lambda: creds.delete(oauth.id, vault_id=vault.id),
        lambda: creds.mcp_oauth_validate(oauth.id, vault_id=vault.id),
        lambda: creds.list("vlt_missing"),
        lambda: creds.create("vlt_missing", auth={"type": "static_bearer", "mcp_server_url": "u", "token": "t"}),
    ):
        with pytest.raises(anthropic.NotFoundError):
            call()

    client.beta.vaults.delete(vault.id)  # takes its credentials with it
    for cred in (bearer, env):
        with pytest.raises(anthropic.NotFoundError):
            creds.retrieve(cred.id, vault_id=vault.id)
    assert creds.retrieve(elsewhere.id, vault_id=other.id).id == elsewhere.id


def _oauth_without_refresh(client: anthropic.Anthropic, vault_id: str) -> Any:
    return client.beta.vaults.credentials.create(
        vault_id, auth={"type": "mcp_oauth", "mcp_server_url": "https://m", "access_token": "a"}
    )


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def test_vault_tenant_isolation(vault_gateway: str) -> None:
    alice, bob = sdk(vault_gateway), sdk(vault_gateway, KEY_B)
    vault = alice.beta.vaults.create(display_name="private")
    cred = alice.beta.vaults.credentials.create(
        vault.id, auth={"type": "mcp_oauth", "mcp_server_url": "https://m", "access_token": "a"}
    )
    bob_vault = bob.beta.vaults.create(display_name="bob's")
    for call in (
        lambda: bob.beta.vaults.retrieve(vault.id),
        lambda: bob.beta.vaults.update(vault.id, display_name="mine"),
        lambda: bob.beta.vaults.archive(vault.id),
        lambda: bob.beta.vaults.delete(vault.id),
        lambda: bob.beta.vaults.credentials.list(vault.id),
        lambda: bob.beta.vaults.credentials.create(
            vault.id, auth={"type": "static_bearer", "mcp_server_url": "u", "token": "t"}
        ),
        lambda: bob.beta.vaults.credentials.retrieve(cred.id, vault_id=vault.id),
        lambda: bob.beta.vaults.credentials.update(cred.id, vault_id=vault.id, display_name="x"),
        lambda: bob.beta.vaults.credentials.archive(cred.id, vault_id=vault.id),
        lambda: bob.beta.vaults.credentials.mcp_oauth_validate(cred.id, vault_id=vault.id),
        lambda: bob.beta.vaults.credentials.delete(cred.id, vault_id=vault.id),
        # alice's credential through bob's own vault
        lambda: bob.beta.vaults.credentials.retrieve(cred.id, vault_id=bob_vault.id),
        lambda: bob.beta.vaults.credentials.delete(cred.id, vault_id=bob_vault.id),
    ):
        with pytest.raises(anthropic.NotFoundError):
            call()
    assert [v.id for v in bob.beta.vaults.list(include_archived=True).data] == [bob_vault.id]
    assert bob.beta.vaults.credentials.list(bob_vault.id, include_archived=True).data == []
    again = alice.beta.vaults.credentials.retrieve(cred.id, vault_id=vault.id)
    assert again.archived_at is None and again.display_name is None
    assert alice.beta.vaults.retrieve(vault.id).display_name == "private"


# --- the key ------------------------------------------------------------------------------------------------------
def test_generated_key_file_is_private_reused_and_shared(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(storage_config_module, "data_dir", lambda: tmp_path / "data")
    config = StorageConfig(database_url="sqlite+aiosqlite:///x.db")
    token = secrets.encrypt(config, "hello")
    path = tmp_path / "data" / "secret.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert secrets.decrypt(config, token) == "hello"
    assert Fernet(path.read_bytes().strip()).decrypt(token.encode()) == b"hello"
    assert [p.name for p in path.parent.iterdir()] == ["secret.key"]  # no temporary file left behind

    # many threads racing to create one key file all get the same key
    racing = tmp_path / "race" / "secret.key"
    keys: list[bytes] = []
    threads = [threading.Thread(target=lambda: keys.append(secrets.load_or_create_key_file(racing))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(keys) == 8 and set(keys) == {racing.read_bytes().strip()}
    # and so do processes
    script = "import sys, pathlib; from gateway.storage.secrets import load_or_create_key_file as f; " + (
        "print(f(pathlib.Path(sys.argv[1])).decode())"
    )
    racing2 = tmp_path / "race2" / "secret.key"
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(racing2)], stdout=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    outputs = {p.communicate(timeout=60)[0].strip() for p in procs}
    assert outputs == {racing2.read_text().strip()}


def test_bad_keys_are_named_not_echoed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = "not-a-key-" + random.token_hex(8)
    with pytest.raises(secrets.SecretKeyError) as caught:
        secrets.fernet(StorageConfig(database_url="sqlite+aiosqlite:///x.db", secret_key=bad))
    assert "storage.secret_key" in caught.value.message and bad not in caught.value.message
    good = StorageConfig(database_url="sqlite+aiosqlite:///x.db", secret_key=SECRET_KEY)
    other = StorageConfig(database_url="sqlite+aiosqlite:///x.db", secret_key=Fernet.generate_key().decode())
    with pytest.raises(secrets.SecretKeyError) as caught:
        secrets.decrypt(other, secrets.encrypt(good, "s3cr3t"))
    assert "s3cr3t" not in caught.value.message
    monkeypatch.setattr(storage_config_module, "data_dir", lambda: tmp_path)
    (tmp_path / "secret.key").write_text("garbage\n")
    with pytest.raises(secrets.SecretKeyError):
        secrets.fernet(StorageConfig(database_url="sqlite+aiosqlite:///x.db"))


def test_invalid_configured_key_stops_start_up_without_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad ``storage.secret_key`` is a config error (check-config and serve refuse), named but never echoed."""
    from gateway.cli import main
    from gateway.settings import ConfigError

    bad = "bogus-key-" + random.token_hex(8)
    with pytest.raises(ConfigError) as caught:
        storage_config_module.parse_storage({"storage": {"secret_key": bad}})
    assert "storage.secret_key" in str(caught.value) and bad not in str(caught.value)
    config = tmp_path / "gateway.yaml"
    config.write_text(f"storage:\n  secret_key: {bad}\n", encoding="utf-8")
    assert main(["check-config", "--config", str(config)]) == 2
    out = capsys.readouterr()
    assert "storage.secret_key" in out.err and bad not in out.err + out.out


# --- the secret grep ----------------------------------------------------------------------------------------------
def test_secret_values_never_leave_in_responses_logs_or_database(database: dict[str, Any], tmp_path: Path) -> None:
    marks = {name: f"SECRET-{name}-{random.token_hex(16)}" for name in ("a1", "a2", "rt", "cs", "tok", "env", "env2")}
    config = tmp_path / "config.yaml"
    doc = {
        "gateway": {
            "api_keys": [{"key": "os.environ/GW_VAULT_KEY", "name": "v", "workspace": "vaults"}],
            "validate_responses": True,
        },
        "storage": {**database, "echo": True},  # every SQL statement and its parameters logged too
    }
    config.write_text(yaml.safe_dump(doc), encoding="utf-8")
    data_home = tmp_path / "xdg"  # no secret_key configured: the key is generated under $XDG_DATA_HOME
    log = tmp_path / "gateway.log"
    bodies: list[str] = []
    with debug_gateway(config, log, {"GW_VAULT_KEY": KEY_A, "XDG_DATA_HOME": str(data_home)}) as url:
        with httpx.Client(base_url=url, headers={"x-api-key": KEY_A}, timeout=30) as client:

            def call(method: str, path: str, body: Any = None, expect: int = 200) -> Any:
                response = client.request(method, path, json=body)
                bodies.append(response.text)
                bodies.append(str(response.headers))
                assert response.status_code == expect, response.text
                return response.json()

            vault = call("POST", "/v1/vaults", {"display_name": "grep", "metadata": {}})["id"]
            base = f"/v1/vaults/{vault}/credentials"
            oauth = call(
                "POST",
                base,
                {
                    "auth": {
                        "type": "mcp_oauth",
                        "mcp_server_url": "https://mcp.example.com",
                        "access_token": marks["a1"],
                        "expires_at": _future(),
                        "refresh": {
                            "client_id": "client",
                            "refresh_token": marks["rt"],
                            "token_endpoint": "https://auth.example.com/token",
                            "token_endpoint_auth": {"type": "client_secret_basic", "client_secret": marks["cs"]},
                        },
                    }
                },
            )["id"]
            bearer = call(
                "POST", base, {"auth": {"type": "static_bearer", "mcp_server_url": "https://b", "token": marks["tok"]}}
            )["id"]
            env = call(
                "POST",
                base,
                {
                    "display_name": "env",
                    "auth": {
                        "type": "environment_variable",
                        "secret_name": "API_KEY",
                        "secret_value": marks["env"],
                        "networking": {"type": "unrestricted"},
                    },
                },
            )["id"]
            call("GET", f"{base}/{oauth}")
            call("GET", base)
            call("POST", f"{base}/{oauth}", {"auth": {"type": "mcp_oauth", "access_token": marks["a2"]}})
            call("POST", f"{base}/{env}", {"auth": {"type": "environment_variable", "secret_value": marks["env2"]}})
            # refused updates that carry a secret: the error must not quote it
            call("POST", f"{base}/{env}", {"auth": {"type": "static_bearer", "token": marks["tok"]}}, expect=400)
            call("POST", f"{base}/{oauth}/mcp_oauth_validate")
            call("POST", f"{base}/{bearer}/archive")
            call("POST", f"{base}/{bearer}", {"auth": {"type": "static_bearer", "token": marks["tok"]}}, expect=400)
            call("GET", f"{base}?include_archived=true")

            stored = _stored_docs(database, tmp_path)
            key = (data_home / "litellm-gateway" / "secret.key").read_bytes().strip()
            fernet = Fernet(key)
            by_id = {d["id"]: d for d in stored}
            opened = {n: fernet.decrypt(t.encode()).decode() for n, t in by_id[oauth]["doc"]["secrets"].items()}
            assert opened == {"access_token": marks["a2"], "refresh_token": marks["rt"], "client_secret": marks["cs"]}
            assert fernet.decrypt(by_id[env]["doc"]["secrets"]["secret_value"].encode()).decode() == marks["env2"]
            assert fernet.decrypt(by_id[bearer]["doc"]["secrets"]["token"].encode()).decode() == marks["tok"]
            raw_db = _raw_database(database, tmp_path)

            call("DELETE", f"{base}/{env}")
            call("DELETE", f"/v1/vaults/{vault}")
            call("GET", f"{base}/{oauth}", expect=404)
    output = log.read_text(encoding="utf-8", errors="replace")
    assert "SELECT" in output and "DEBUG" in output  # the logs really were at debug level, SQL included
    for name, mark in marks.items():
        assert not [b for b in bodies if mark in b], f"{name} in a response"
        assert mark not in output, f"{name} in the logs"
        assert mark.encode() not in raw_db, f"{name} in plaintext in the database"


def _stored_docs(database: dict[str, Any], tmp_path: Path) -> list[dict[str, Any]]:
    import json

    if "schema" not in database:
        import sqlite3

        path = database["database_url"].split("///", 1)[1]
        with sqlite3.connect(path) as conn:
            rows = conn.execute("SELECT id, doc FROM resources").fetchall()
        return [{"id": r[0], "doc": json.loads(r[1])} for r in rows]

    async def fetch() -> list[dict[str, Any]]:
        import asyncpg

        conn = await asyncpg.connect(PG_URL.replace("postgresql+asyncpg://", "postgresql://"), timeout=5)
        try:
            rows = await conn.fetch(f'SELECT id, doc::text AS doc FROM "{database["schema"]}".resources')
        finally:
            await conn.close()
        return [{"id": r["id"], "doc": json.loads(r["doc"])} for r in rows]

    return asyncio.run(fetch())


def _raw_database(database: dict[str, Any], tmp_path: Path) -> bytes:
    """Every byte the database holds for the test: the SQLite file and its WAL, or every PostgreSQL row as text."""
    if "schema" not in database:
        path = Path(database["database_url"].split("///", 1)[1])
        return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))

    async def fetch() -> bytes:
        import asyncpg

        conn = await asyncpg.connect(PG_URL.replace("postgresql+asyncpg://", "postgresql://"), timeout=5)
        try:
            out: list[str] = []
            for table in ("resources", "resource_versions", "alembic_version"):
                rows = await conn.fetch(f'SELECT t::text AS row FROM "{database["schema"]}".{table} t')
                out.extend(r["row"] for r in rows)
        finally:
            await conn.close()
        return "\n".join(out).encode()

    return asyncio.run(fetch())


def test_schema_errors_do_not_echo_secrets(tmp_path: Path) -> None:
    mark = "SECRET-" + random.token_hex(16)
    storage = {"database_url": f"sqlite+aiosqlite:///{tmp_path / 'g.db'}", "secret_key": SECRET_KEY}
    with running_gateway(storage) as url:
        client = http(url)
        vault = client.post("/v1/vaults", json={"display_name": "v"}).json()["id"]
        response = client.post(f"/v1/vaults/{vault}/credentials", json={"auth": {"type": "bogus", "token": mark}})
        assert response.status_code == 400
        assert mark not in response.text
