"""The /key/* admin API on a real gateway process: LiteLLM's shapes, hash-only storage, master key only."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path
from typing import Any

import anthropic
import httpx
import pytest

from bench.fakes import AnthropicFake
from tests.keys.conftest import CONFIG_KEY, MASTER, admin, ask, config, gateways, generate


def test_generate_use_update_delete(tmp_path: Path, database: dict[str, Any], fake: AnthropicFake) -> None:
    with gateways(config(tmp_path, database, fake.url)) as [url]:
        made = generate(url, key_alias="alice", workspace="team-a", models=["claude-sonnet-4-5"], metadata={"a": 1})
        key = made["key"]
        assert key.startswith("sk-gw-key-") and made["key_name"].endswith(key[-4:])
        assert made["key_alias"] == "alice" and made["workspace"] == "team-a" and made["spend"] == 0
        message = ask(url, key)
        assert message.content[0].type == "text"
        assert fake.requests[-1].headers.get("x-api-key") == "k"  # the virtual key never travels upstream

        with admin(url) as client:
            info = client.get("/key/info", params={"key": made["token"]}).json()
            assert info["key"] == made["token"] and "key" not in info["info"]
            assert client.get("/key/info", params={"key": key}).json()["key"] == made["token"]
            listed = client.get("/key/list", params={"return_full_object": True}).json()
            assert listed["total_count"] == 1 and listed["keys"][0]["token"] == made["token"]
            assert client.get("/key/list").json()["keys"] == [made["token"]]
            assert client.get("/key/list", params={"workspace": "other"}).json()["total_count"] == 0

            updated = client.post("/key/update", json={"key": made["token"], "models": ["claude-opus-4-1"]}).json()
            assert updated["models"] == ["claude-opus-4-1"] and updated["metadata"] == {"a": 1}
            with pytest.raises(anthropic.PermissionDeniedError):
                ask(url, key)  # this process forgot the cached row at once

            blocked = client.post("/key/update", json={"key": made["token"], "blocked": True})
            assert blocked.status_code == 200
            with pytest.raises(anthropic.AuthenticationError):
                ask(url, key)

            deleted = client.post("/key/delete", json={"keys": [made["token"]]}).json()
            assert deleted == {"deleted_keys": [made["token"]]}
            with pytest.raises(anthropic.AuthenticationError):
                ask(url, key)
            missing = client.get("/key/info", params={"key": made["token"]})
            assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found_error"


def test_only_the_hash_is_stored(tmp_path: Path, sqlite: dict[str, Any], fake: AnthropicFake) -> None:
    with gateways(config(tmp_path, sqlite, fake.url)) as [url]:
        key = generate(url, key_alias="alice")["key"]
    database = sqlite["database_url"].split("///", 1)[1]
    with sqlite3.connect(database) as conn:
        dump = "\n".join(conn.iterdump())
    assert key not in dump and key[10:] not in dump
    assert hashlib.sha256(key.encode()).hexdigest() in dump
    logs = "".join(p.read_text() for p in tmp_path.glob("*.log"))
    assert key not in logs


def test_the_admin_api_needs_the_master_key(tmp_path: Path, sqlite: dict[str, Any], fake: AnthropicFake) -> None:
    with gateways(config(tmp_path, sqlite, fake.url)) as [url]:
        virtual = generate(url)["key"]
        for token in (CONFIG_KEY, virtual):
            answer = httpx.get(f"{url}/key/list", headers={"x-api-key": token})
            assert answer.status_code == 403, token[:12]
            assert answer.json()["error"]["type"] == "permission_error"
        assert httpx.get(f"{url}/key/list").status_code == 401
        assert httpx.get(f"{url}/key/list", headers={"x-api-key": "sk-gw-key-unknown"}).status_code == 401
        assert httpx.get(f"{url}/key/list", headers={"x-api-key": MASTER}).status_code == 200


def test_config_keys_keep_working_and_bad_fields_are_refused(
    tmp_path: Path, sqlite: dict[str, Any], fake: AnthropicFake
) -> None:
    with gateways(config(tmp_path, sqlite, fake.url)) as [url]:
        assert ask(url, CONFIG_KEY).content[0].type == "text"
        with admin(url) as client:
            unknown = client.post("/key/generate", json={"team_id": "t"})
            assert unknown.status_code == 400 and unknown.json()["error"]["type"] == "invalid_request_error"
            bad = client.post("/key/generate", json={"budget_duration": "soon"})
            assert bad.status_code == 400
            both = client.post("/key/generate", json={"duration": "1d", "expires": "2030-01-01T00:00:00Z"})
            assert both.status_code == 400


def test_an_expired_key_is_refused(tmp_path: Path, sqlite: dict[str, Any], fake: AnthropicFake) -> None:
    with gateways(config(tmp_path, sqlite, fake.url)) as [url]:
        gone = generate(url, expires="2020-01-01T00:00:00Z")
        assert gone["expires"].startswith("2020-01-01")
        with pytest.raises(anthropic.AuthenticationError):
            ask(url, gone["key"])
        live = generate(url, duration="1h")
        assert ask(url, live["key"]).content


def test_a_virtual_key_gets_the_local_answers(tmp_path: Path, sqlite: dict[str, Any], fake: AnthropicFake) -> None:
    with gateways(config(tmp_path, sqlite, fake.url)) as [url]:
        key = generate(url, workspace="team-v")["key"]
        profile = httpx.get(f"{url}/api/oauth/profile", headers={"authorization": f"Bearer {key}"})
        assert profile.status_code == 200, profile.text
        unknown = httpx.get(f"{url}/api/oauth/profile", headers={"x-api-key": "sk-gw-key-not-one-of-ours-0000"})
        assert unknown.status_code == 401 and unknown.json()["error"]["type"] == "authentication_error"
        usage = httpx.get(f"{url}/api/oauth/usage", headers={"x-api-key": key}).json()
        assert usage["five_hour"] is None and usage["gateway_spend"]["max_budget"] is None  # no budget: no window
