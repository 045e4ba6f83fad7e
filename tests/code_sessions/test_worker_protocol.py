"""The CCR v2 worker protocol of the env-less bridge (``POST /v1/code/sessions/{id}/bridge`` → worker calls): one
worker per session, a superseded ``worker_epoch`` gets 409 on every write, the worker token reaches only its
session's worker calls, and while a worker is attached the gateway runs no turn itself."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from bench.fakes import AnthropicFake
from tests.code_sessions.ccr_client import Viewer, Worker
from tests.code_sessions.conftest import TOKEN, http_client
from tests.code_sessions.test_code_sessions import wait
from tests.gateway_process import gateway_process
from tests.runtime.conftest import Gateway, write_config
from tests.storage.conftest import storage_section


def _worker(http: httpx.Client, viewer: Viewer, code_id: str) -> Worker:
    creds = viewer.bridge(code_id)
    assert creds.status_code == 200, creds.text
    body = creds.json()
    assert body["api_base_url"] == str(http.base_url).rstrip("/") and body["expires_in"] > 0
    assert body["worker_jwt"].startswith("sk-gw-wrk-")
    return Worker(http, code_id, body["worker_jwt"], int(body["worker_epoch"]))


def test_superseded_epoch_and_worker_runs_the_turn(gw: Gateway, http: httpx.Client) -> None:
    viewer = Viewer(http, TOKEN)
    code_id = viewer.create().json()["session"]["id"]
    old = _worker(http, viewer, code_id)
    assert old.epoch == 1
    assert old.state("idle", permission_mode="acceptEdits", pending_action=None).status_code == 200
    inbound = old.stream()
    said = viewer.say(code_id, "hello worker")
    assert said.status_code == 200
    assert wait(lambda: inbound.events()), "the message never reached the worker"
    assert inbound.events()[0].data["payload"]["message"]["content"] == "hello worker"
    inbound.close()
    time.sleep(1.0)
    assert gw.fake.requests == []  # a worker is attached: the gateway ran no turn

    new = _worker(http, viewer, code_id)
    assert new.epoch == 2
    restored = new.read_state().json()["worker"]
    assert restored["external_metadata"] == {"permission_mode": "acceptEdits", "pending_action": None}
    assert restored["worker_epoch"] == 2
    # every write of the superseded worker is refused; the token itself is still valid for its session
    answer = {"type": "assistant", "uuid": "u1", "session_id": code_id, "message": {"role": "assistant", "content": []}}
    refused = [
        old.state("running"),
        old.heartbeat(),
        old.send(answer),
        old.internal({"payload": {"type": "user", "uuid": "t1"}}),
        old.delivered("sevt_x"),
    ]
    assert [r.status_code for r in refused] == [409] * 5, [r.text for r in refused]
    assert all(r.json()["error"]["type"] == "invalid_request_error" for r in refused)
    assert old.register().status_code == 200 and old.epoch == 3  # a register makes it current again
    assert new.heartbeat().status_code == 409
    # the worker token reaches its own session's worker calls only
    other_id = viewer.create().json()["session"]["id"]
    assert http.get(f"/v1/code/sessions/{other_id}/worker", headers=old.headers()).status_code == 404
    assert http.get("/v1/code/sessions", headers=old.headers()).status_code == 403
    models = http.post(
        "/v1/messages",
        json={"model": "claude-haiku-5-5", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]},
        headers=old.headers(),
    )
    assert models.status_code == 403
    bogus = {**old.headers(), "Authorization": "Bearer sk-gw-wrk-not-a-token"}
    assert http.get(old.path(), headers=bogus).status_code == 401


def test_internal_events_round_trip(gw: Gateway, http: httpx.Client) -> None:
    viewer = Viewer(http, TOKEN)
    code_id = viewer.create().json()["session"]["id"]
    worker = _worker(http, viewer, code_id)
    before = {"payload": {"type": "user", "uuid": "t0", "message": {"role": "user", "content": "old"}}}
    boundary = {"payload": {"type": "system", "uuid": "t1", "subtype": "compact_boundary"}, "is_compaction": True}
    after = {"payload": {"type": "assistant", "uuid": "t2", "message": {"role": "assistant", "content": "new"}}}
    sub = {"payload": {"type": "assistant", "uuid": "s1"}, "agent_id": "agent-7"}
    assert worker.internal(before, boundary, after, sub).status_code == 200
    foreground = worker.read_internal().json()
    assert [e["payload"]["uuid"] for e in foreground["data"]] == ["t1", "t2"]
    assert foreground["data"][0]["is_compaction"] is True and foreground["data"][0]["event_type"] == "transcript"
    assert "next_cursor" not in foreground  # absent: the last page
    assert [e["payload"]["uuid"] for e in worker.read_internal(subagents=True).json()["data"]] == ["s1"]
    # internal events are never shown to viewers or to the SDK
    assert viewer.all_events(code_id) == []
    assert gw.events("sesn_" + code_id.removeprefix("cse_")) == []


def test_keepalive_comments(sqlite_gw: Gateway) -> None:
    with http_client(sqlite_gw.url) as http:
        viewer = Viewer(http, TOKEN)
        code_id = viewer.create().json()["session"]["id"]
        worker = _worker(http, viewer, code_id)
        inbound = worker.stream()
        comments = wait(lambda: [f.comment for f in inbound.frames if f.comment is not None], timeout=40)
        inbound.close()
    assert comments and comments[0] == "keepalive"
    assert inbound.status == 200


def test_one_worker_across_two_processes(tmp_path: Path) -> None:
    """Two gateway processes on one PostgreSQL database: 24 concurrent registrations, 12 on each, get 24 distinct
    epochs; afterwards only the newest epoch may write, through either process."""
    with storage_section("postgresql", tmp_path) as storage, AnthropicFake(name="unused") as fake:
        config = write_config(tmp_path, fake, storage)
        with gateway_process(config, {}) as (_a, url_a), gateway_process(config, {}) as (_b, url_b):
            with http_client(url_a) as a, http_client(url_b) as b:
                code_id = Viewer(a, TOKEN).create().json()["session"]["id"]
                clients = [a, b] * 12
                with ThreadPoolExecutor(8) as pool:
                    answers = list(pool.map(lambda c: Viewer(c, TOKEN).bridge(code_id), clients))
                assert all(r.status_code == 200 for r in answers), [r.text for r in answers]
                epochs = sorted(int(r.json()["worker_epoch"]) for r in answers)
                assert epochs == list(range(1, 25))
                newest = max(answers, key=lambda r: int(r.json()["worker_epoch"]))
                token = newest.json()["worker_jwt"]
                stale = Worker(a, code_id, answers[0].json()["worker_jwt"], int(answers[0].json()["worker_epoch"]))
                for http in (a, b):
                    current = Worker(http, code_id, token, 24)
                    assert current.heartbeat().status_code == 200
                    stale.http = http
                    if stale.epoch != 24:
                        assert stale.heartbeat().status_code == 409
                    assert Worker(http, code_id, token, 23).send({"type": "system", "uuid": "x"}).status_code == 409
    assert fake.requests == []
