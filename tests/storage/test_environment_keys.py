"""Self-hosted workers' credentials against a real gateway process (``litellm-gateway serve``, debug log to a file)
with the official SDK as the client, on SQLite and PostgreSQL: environment keys minted by the CLI, the per-item
sessions token of a poll's ``secret``, their scopes (401 / 403 / 404), revocation, the 412 heartbeat details the
SDK reads, the configured lease TTL, local mode, and that no key or token ever reaches the log."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import anthropic
import httpx
import pytest
import yaml

from gateway.storage import environment_work
from gateway.storage.config import parse_storage
from gateway.storage.db import create_engine
from gateway.storage.store import Store
from tests.gateway_process import debug_gateway
from tests.storage.conftest import KEY_A, KEY_B

TTL = 4
CLI = str(Path(sys.executable).with_name("litellm-gateway"))


def write_config(path: Path, storage: dict[str, Any], *, keys: bool = True) -> Path:
    gateway: dict[str, Any] = {"validate_responses": True}
    if keys:
        gateway["api_keys"] = [
            {"key": KEY_A, "name": "alice", "workspace": "team-a"},
            {"key": KEY_B, "name": "bob", "workspace": "team-b"},
        ]
    path.write_text(yaml.safe_dump({"gateway": gateway, "storage": {**storage, "work_ttl_seconds": TTL}}))
    return path


def sqlite(tmp_path: Path) -> dict[str, Any]:
    return {"database_url": f"sqlite+aiosqlite:///{tmp_path / 'gw.db'}"}


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, "environments", *args, "--config", str(config)], capture_output=True, text=True, timeout=60
    )


def mint(config: Path, environment_id: str, name: str = "worker") -> str:
    done = cli(config, "key", environment_id, "--name", name)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def client(url: str, key: str) -> anthropic.Anthropic:
    """An SDK client whose API key is ``key``: the SDK sends it as ``Authorization: Bearer``."""
    return anthropic.Anthropic(base_url=url, api_key=key, max_retries=0)


def queue_session(database: dict[str, Any], admin: anthropic.Anthropic, environment_id: str, session_id: str) -> None:
    """Make sure the session has a queued work item (session creation queues one once the runtime does it)."""
    if admin.beta.environments.work.stats(environment_id).depth:
        return

    async def run() -> None:
        store = Store(create_engine(parse_storage({"storage": database})))
        try:
            await environment_work.enqueue(store, "team-a", environment_id, session_id)
        finally:
            await store.engine.dispose()

    asyncio.run(run())


def sessions_token(secret: str | None) -> str:
    """The sessions token of a work item's ``secret`` (URL-safe base64 of JSON, as the SDK's worker decodes it)."""
    assert secret
    payload = json.loads(base64.urlsafe_b64decode(secret + "=" * (-len(secret) % 4)))
    token = payload["sessions_token"]
    assert isinstance(token, str)
    return token


def status_of(call: Any) -> tuple[int, dict[str, Any]]:
    with pytest.raises(anthropic.APIStatusError) as caught:
        call()
    body = caught.value.body if isinstance(caught.value.body, dict) else {}
    return caught.value.status_code, body


def test_worker_credentials(database: dict[str, Any], tmp_path: Path) -> None:
    config = write_config(tmp_path / "gateway.yaml", database)
    log = tmp_path / "gateway.log"
    with debug_gateway(config, log) as url:
        admin = client(url, KEY_A)
        env = admin.beta.environments.create(name="hosted", config={"type": "self_hosted"}).id
        other_env = admin.beta.environments.create(name="elsewhere", config={"type": "self_hosted"}).id
        agent = admin.beta.agents.create(name="helper", model="claude-sonnet-4-6")
        notes = admin.beta.memory_stores.create(name="notes")
        unattached = admin.beta.memory_stores.create(name="private")
        session = admin.beta.sessions.create(
            agent=agent.id, environment_id=env, resources=[{"type": "memory_store", "memory_store_id": notes.id}]
        )
        other_session = admin.beta.sessions.create(agent=agent.id, environment_id=other_env)
        queue_session(database, admin, env, session.id)

        key = mint(config, env, "w1")
        other_key = mint(config, other_env, "w2")
        assert key.startswith("sk-gw-env-") and key != other_key
        worker = client(url, key)
        work = worker.beta.environments.work

        # poll -> an item whose secret carries a sessions token
        item = work.poll(env, anthropic_worker_id="w1")
        assert item is not None and item.data.id == session.id
        token = sessions_token(item.secret)
        assert token.startswith("sk-gw-sess-")
        assert admin.beta.environments.work.retrieve(item.id, environment_id=env).secret is None  # poll only
        assert work.stats(env).pending == 1 and [w.id for w in work.list(env).data] == [item.id]
        assert work.ack(item.id, environment_id=env).state == "starting"

        # the sessions token: its item's heartbeat (TTL from storage.work_ttl_seconds), its session, its memory
        holder = client(url, token)
        beat = holder.beta.environments.work.heartbeat(
            item.id, environment_id=env, expected_last_heartbeat="NO_HEARTBEAT"
        )
        assert (beat.state, beat.lease_extended, beat.ttl_seconds) == ("active", True, TTL)
        assert holder.beta.sessions.retrieve(session.id).id == session.id
        assert list(holder.beta.sessions.events.list(session.id).data) == []
        holder.beta.memory_stores.memories.create(notes.id, path="/a.md", content="alpha")
        assert [m.path for m in holder.beta.memory_stores.memories.list(notes.id).data] == ["/a.md"]
        assert status_of(lambda: holder.beta.sessions.retrieve(other_session.id))[0] == 404
        assert status_of(lambda: holder.beta.memory_stores.memories.list(unattached.id))[0] == 404
        assert status_of(lambda: holder.beta.environments.work.poll(env))[0] == 403
        assert status_of(lambda: holder.beta.agents.list())[0] == 403

        # the environment key: its queue and sessions, skills; never memory, nothing else
        assert worker.beta.sessions.retrieve(session.id).environment_id == env
        assert status_of(lambda: worker.beta.sessions.retrieve(other_session.id))[0] == 404
        assert status_of(lambda: work.poll(other_env))[0] == 404
        assert status_of(lambda: client(url, other_key).beta.environments.work.poll(env))[0] == 404
        assert status_of(lambda: worker.beta.skills.versions.retrieve("1", skill_id="skill_nope"))[0] == 404
        for call in (
            lambda: worker.beta.memory_stores.memories.list(notes.id),
            lambda: worker.beta.agents.create(name="x", model="claude-sonnet-4-6"),
            lambda: work.retrieve(item.id, environment_id=env),
            lambda: worker.beta.skills.list(),
            lambda: worker.models.list(),
        ):
            status, body = status_of(call)
            assert status == 403 and body["error"]["type"] == "permission_error", body
        # the same with x-api-key, and the gateway's own keys are unaffected
        with httpx.Client(base_url=url, headers={"x-api-key": key}) as raw:
            assert raw.get(f"/v1/environments/{env}/work/stats").status_code == 200
            assert raw.post("/v1/agents", json={"name": "x", "model": "m"}).status_code == 403
        assert admin.beta.agents.list().data

        # wrong keys -> 401
        for wrong in ("sk-gw-env-" + secrets.token_urlsafe(32), "sk-gw-sess-" + secrets.token_urlsafe(32), "nope"):
            status, body = status_of(lambda w=wrong: client(url, w).beta.environments.work.poll(env))
            assert status == 401 and body["error"]["type"] == "authentication_error"

        # a stale heartbeat: 412 with the lease as the server holds it, read by the SDK
        with pytest.raises(anthropic.APIStatusError) as stale:
            work.heartbeat(item.id, environment_id=env, expected_last_heartbeat="NO_HEARTBEAT")
        current = {"state": "active", "ttl_seconds": TTL, "last_heartbeat": beat.last_heartbeat}
        current["lease_extended"] = False
        assert stale.value.status_code == 412
        assert stale.value.body["error"]["details"] == {  # type: ignore[index]
            "error_code": "heartbeat_precondition_failed",
            "current_state": current,
        }
        try:  # 2.14: the worker's heartbeat loop reads the body with _server_lease_state
            from anthropic.lib.environments._worker import _server_lease_state  # type: ignore[attr-defined]
        except ImportError:  # >= 2.17: the typed error (picked by error.details.error_code) that the lease catches
            from anthropic.types.beta.environments import BetaHeartbeatPreconditionFailedError

            assert isinstance(stale.value, BetaHeartbeatPreconditionFailedError)
            assert stale.value.details.current_state.model_dump() == current
        else:
            assert dict(_server_lease_state(stale.value)) == current

        # the token dies with its item; the key lives until revoked
        assert holder.beta.environments.work.stop(item.id, environment_id=env, force=True).state == "stopped"
        assert status_of(lambda: holder.beta.sessions.retrieve(session.id))[0] == 401
        listed = cli(config, "keys", env)
        assert listed.returncode == 0 and key not in listed.stdout
        (line,) = listed.stdout.strip().splitlines()
        key_id = line.split()[0]
        assert key_id.startswith("ekey_") and key[:14] in line and "last_used=never" not in line
        assert work.stats(env).type == "work_queue_stats"  # the key still works (the queue may hold a new item)
        revoked = cli(config, "revoke-key", key_id)
        assert revoked.returncode == 0 and key_id in revoked.stdout
        assert status_of(lambda: work.poll(env))[0] == 401
        assert cli(config, "revoke-key", key_id).returncode == 1
        assert client(url, other_key).beta.environments.work.stats(other_env).depth == 1  # other_session's item
        admin.beta.sessions.delete(other_session.id)
        admin.beta.environments.delete(other_env)  # its keys go with it
        assert status_of(lambda: client(url, other_key).beta.environments.work.poll(other_env))[0] == 401
        assert cli(config, "keys", other_env).returncode == 1

    text = log.read_text()
    assert "authorised for custom.environment_work.heartbeat" in text  # the debug log names the credential's use
    for secret in (key, other_key, token):
        assert secret not in text and secret[10:] not in text


def test_cli_refuses_what_cannot_have_keys(tmp_path: Path) -> None:
    config = write_config(tmp_path / "gateway.yaml", sqlite(tmp_path))
    missing = cli(config, "key", "env_01missing")
    assert missing.returncode == 1 and "env_01missing" in missing.stderr and not missing.stdout
    assert cli(config, "keys", "env_01missing").returncode == 1
    with debug_gateway(config, tmp_path / "gateway.log") as url:
        cloud = client(url, KEY_A).beta.environments.create(name="cloud").id
    refused = cli(config, "key", cloud)
    assert refused.returncode == 1 and cloud in refused.stderr and "self_hosted" in refused.stderr
    bad = write_config(tmp_path / "bad.yaml", {"database_url": "mysql://x", "work_ttl_seconds": 0})
    failed = cli(bad, "key", cloud)
    assert failed.returncode == 2 and "storage.database_url" in failed.stderr


def test_local_mode_scopes_worker_credentials(tmp_path: Path) -> None:
    """No gateway keys: every request is accepted as before, but a presented environment key is scoped as in key
    mode and an unknown or revoked one is a 401."""
    config = write_config(tmp_path / "gateway.yaml", sqlite(tmp_path), keys=False)
    with debug_gateway(config, tmp_path / "gateway.log") as url:
        anyone = client(url, "whatever")
        env = anyone.beta.environments.create(name="hosted", config={"type": "self_hosted"}).id
        key = mint(config, env)
        worker = client(url, key)
        assert worker.beta.environments.work.poll(env) is None
        assert status_of(lambda: worker.beta.agents.list())[0] == 403
        assert anyone.beta.agents.list().data == []
        key_id = cli(config, "keys", env).stdout.split()[0]
        assert cli(config, "revoke-key", key_id).returncode == 0
        assert status_of(lambda: worker.beta.environments.work.poll(env))[0] == 401


def end_turn(database: dict[str, Any], session_id: str) -> None:
    """Record that the session's turn ended (what the runtime emits), so the SDK's runner leaves after max_idle."""
    from gateway.storage.session_events import EventLog

    async def run() -> None:
        store = Store(create_engine(parse_storage({"storage": database})))
        try:
            idle = {"type": "session.status_idle", "stop_reason": {"type": "end_turn"}}
            await EventLog(store, "team-a").append(session_id, [idle])
        finally:
            await store.engine.dispose()

    asyncio.run(run())


def test_sdk_worker_serves_an_item_on_its_sessions_token(database: dict[str, Any], tmp_path: Path) -> None:
    """The SDK's dispatch shape (A4): ``work.poller(drain=True, auto_stop=False)`` claims the item with the environment
    key, ``work.worker().handle_item(work_secret=…)`` serves it - heartbeat, session, memory download, events, final
    stop - on the item's sessions token alone (the server's debug log names the credential of every call)."""
    config = write_config(tmp_path / "gateway.yaml", database)
    log = tmp_path / "gateway.log"
    with debug_gateway(config, log) as url:
        admin = client(url, KEY_A)
        env = admin.beta.environments.create(name="hosted", config={"type": "self_hosted"}).id
        agent = admin.beta.agents.create(name="helper", model="claude-sonnet-4-6")
        notes = admin.beta.memory_stores.create(name="notes")
        admin.beta.memory_stores.memories.create(notes.id, path="/plan.md", content="step one")
        session = admin.beta.sessions.create(
            agent=agent.id, environment_id=env, resources=[{"type": "memory_store", "memory_store_id": notes.id}]
        )
        queue_session(database, admin, env, session.id)
        end_turn(database, session.id)
        key = mint(config, env)

        async def serve_one() -> list[anthropic.types.beta.environments.BetaSelfHostedWork]:
            sdk = anthropic.AsyncAnthropic(base_url=url, api_key=KEY_A)
            work = sdk.beta.environments.work
            items = [
                item
                async for item in work.poller(
                    environment_id=env, environment_key=key, drain=True, auto_stop=False, block_ms=None
                )
            ]
            worker = work.worker(environment_id=env, environment_key=key, workdir=tmp_path / "work", max_idle=1)
            for item in items:
                await worker.handle_item(
                    work_id=item.id, environment_id=env, session_id=item.data.id, work_secret=item.secret
                )
            return items

        (item,) = asyncio.run(asyncio.wait_for(serve_one(), 60))
        assert item.data.id == session.id and item.secret
        assert admin.beta.environments.work.retrieve(item.id, environment_id=env).state == "stopped"

    text = log.read_text()
    messages = [str(json.loads(line)["message"]) for line in text.splitlines() if line.strip()]  # JSON lines
    uses = [m.split("worker credential ", 1)[1] for m in messages if "worker credential " in m]
    by_token = {u.rsplit(" ", 1)[1] for u in uses if "(sessions_token)" in u}
    by_key = {u.rsplit(" ", 1)[1] for u in uses if "(environment_key)" in u}
    assert {
        "custom.environment_work.heartbeat",
        "custom.sessions.retrieve",
        "custom.memories.list",
        "custom.session_events.list",
        "custom.session_events.stream",
        "custom.environment_work.stop",
    } <= by_token, uses
    assert by_key == {"custom.environment_work.poll", "custom.environment_work.ack"}, uses
    assert key not in text and key[10:] not in text
    assert sessions_token(item.secret)[11:] not in text
