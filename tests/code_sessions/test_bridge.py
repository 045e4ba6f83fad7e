"""The environments bridge end to end with a client that follows Claude Code's shapes: a machine registers, a
code session created for its environment is queued as a work item (the self-hosted queue), the bridge polls it
with the environment secret, runs it over the CCR v2 worker protocol, and the viewer and the SDK see the events.
The gateway runs no model turn for a bridge session (the worker's Claude Code does)."""

from __future__ import annotations

import time

import httpx

from tests.code_sessions.ccr_client import Bridge, Viewer, Worker, work_secret
from tests.code_sessions.conftest import TOKEN
from tests.runtime.conftest import Gateway


def _wait(predicate, timeout: float = 15.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def _poll(bridge: Bridge, environment_id: str, secret: str) -> dict:  # type: ignore[type-arg]
    def one() -> dict | None:  # type: ignore[type-arg]
        r = bridge.poll(environment_id, secret)
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]

    item = _wait(one)
    assert item, "no work item was handed out"
    return item  # type: ignore[no-any-return]


def test_bridge_session_runs_on_the_worker(gw: Gateway, http: httpx.Client) -> None:
    bridge, viewer = Bridge(http, TOKEN), Viewer(http, TOKEN)
    first = bridge.register()
    assert first.status_code == 200, first.text
    environment_id, secret = first.json()["environment_id"], first.json()["environment_secret"]
    assert environment_id.startswith("env_") and secret.startswith("sk-gw-env-")
    # idempotent re-register: same environment, a new secret; both authorise the poll
    again = bridge.register(environment_id=environment_id)
    assert again.status_code == 200 and again.json()["environment_id"] == environment_id
    second_secret = again.json()["environment_secret"]
    assert second_secret != secret
    assert bridge.poll(environment_id, second_secret).json() is None
    # the secret is the environment's worker credential, nothing more
    assert http.get("/v1/code/sessions", headers={"Authorization": f"Bearer {secret}"}).status_code == 403
    other = bridge.register(machine_name="other-box").json()
    assert bridge.poll(other["environment_id"], secret).status_code == 404

    config = {"cwd": "/home/dev/project", "model": "claude-sonnet-5-5"}
    created = viewer.create(environment_id=environment_id, config=config)
    assert created.status_code == 200, created.text
    code_id = created.json()["session"]["id"]
    assert code_id.startswith("cse_") and created.json()["session"]["environment_id"] == environment_id

    item = _poll(bridge, environment_id, secret)
    assert item["data"] == {"type": "session", "id": code_id.replace("cse_", "sesn_", 1)}
    secret_doc = work_secret(item)
    assert secret_doc["version"] == 1 and secret_doc["use_code_sessions"] is True
    assert secret_doc["api_base_url"] == gw.url
    ingress = secret_doc["session_ingress_token"]
    assert bridge.ack(environment_id, item["id"], ingress).status_code == 200

    worker = Worker(httpx.Client(base_url=secret_doc["api_base_url"], timeout=30), code_id, ingress)
    assert worker.register().status_code == 200 and worker.epoch == 1
    assert worker.state("idle", pending_action=None, task_summary=None).status_code == 200
    inbound = worker.stream()

    said = viewer.say(code_id, "Run the tests")
    assert said.status_code == 200, said.text
    sequence = said.json()["results"][0]["sequence_num"]
    arrived = _wait(lambda: inbound.events())
    assert arrived, "the viewer's message never reached the worker's stream"
    frame = arrived[0]
    assert frame.event == "client_event" and frame.id == str(sequence)
    assert frame.data["payload"]["message"] == {"role": "user", "content": "Run the tests"}
    assert frame.data["source"] == "client" and frame.data["sequence_num"] == sequence
    assert worker.delivered(frame.data["event_id"]).status_code == 200

    assert worker.state("running").status_code == 200
    assert viewer.get(code_id).json()["session"]["worker_status"] == "running"
    assert gw.sdk.beta.sessions.retrieve(code_id.replace("cse_", "sesn_", 1)).status == "running"
    init = {"type": "system", "subtype": "init", "uuid": "u-init", "session_id": code_id, "model": "claude-sonnet-5-5"}
    answer = {
        "type": "assistant",
        "uuid": "u-answer",
        "session_id": code_id,
        "parent_tool_use_id": None,
        "message": {"role": "assistant", "content": [{"type": "text", "text": "All 12 tests pass."}]},
    }
    result = {"type": "result", "subtype": "success", "is_error": False, "uuid": "u-result", "session_id": code_id}
    delta = {"type": "stream_event", "uuid": "u-delta", "session_id": code_id, "event": {"type": "content_block_delta"}}
    assert worker.send(delta, ephemeral=True).status_code == 200
    assert worker.send(init, answer, result).status_code == 200
    assert worker.send(answer).status_code == 200  # a retried batch: its uuid is known, it is not stored twice
    assert worker.state("idle").status_code == 200
    assert worker.heartbeat().status_code == 200

    listed = viewer.all_events(code_id)
    assert [e["payload"]["type"] for e in listed] == ["user", "system", "assistant", "result"]
    assert [e["source"] for e in listed] == ["client", "worker", "worker", "worker"]
    numbers = [e["sequence_num"] for e in listed]
    assert numbers == sorted(numbers) and len(set(numbers)) == 4 and numbers[0] == sequence
    assert listed[2]["payload"] == answer  # what the worker sent, as it sent it
    # the worker's stream carries only clients' events: nothing after the user message
    assert len(inbound.events()) == 1
    inbound.close()

    # the SDK sees the same session and events in its own format
    sdk_session = gw.sdk.beta.sessions.retrieve(item["data"]["id"])
    assert sdk_session.environment_id == environment_id and sdk_session.status == "idle"
    sdk_events = gw.events(item["data"]["id"])
    assert [e.type for e in sdk_events] == [
        "user.message",
        "session.status_running",
        "agent.message",
        "session.status_idle",
    ]
    assert sdk_events[2].content[0].text == "All 12 tests pass."
    # no model turn ran at the gateway: the worker's own Claude Code answered
    assert gw.fake.requests == []


def test_deregister_and_reconnect(gw: Gateway, http: httpx.Client) -> None:
    bridge, viewer = Bridge(http, TOKEN), Viewer(http, TOKEN)
    reg = bridge.register().json()
    environment_id, secret = reg["environment_id"], reg["environment_secret"]
    code_id = viewer.create(environment_id=environment_id).json()["session"]["id"]
    item = _poll(bridge, environment_id, secret)
    assert item["data"]["id"].removeprefix("sesn_") == code_id.removeprefix("cse_")
    # the bridge restarts: re-registers with its id and asks for the session again
    assert bridge.register(environment_id=environment_id).json()["environment_id"] == environment_id
    assert bridge.reconnect(environment_id, code_id).status_code == 204
    again = _poll(bridge, environment_id, secret)
    assert again["id"] != item["id"] and again["data"] == item["data"]
    assert bridge.reconnect(environment_id, "cse_01nosuchsession00000000000").status_code == 404

    assert bridge.deregister(environment_id).status_code == 204
    assert bridge.poll(environment_id, secret).status_code == 401  # its secrets are gone
    assert bridge.deregister(environment_id).status_code == 204  # idempotent
    assert bridge.deregister("env_01nosuchenvironment000000").status_code == 404
    # a re-register with the id of a deregistered environment gets a fresh one
    fresh = bridge.register(environment_id=environment_id).json()
    assert fresh["environment_id"] != environment_id
    # an id this gateway never issued (registered elsewhere, or before a reset): a fresh environment, as above
    foreign = bridge.register(environment_id="0b6c1f3e-52a4-4f7e-9d0b-7a1c2e9f4d11")
    assert foreign.status_code == 200, foreign.text
    assert foreign.json()["environment_id"] not in (environment_id, fresh["environment_id"])
    assert foreign.json()["environment_id"].startswith("env_")
