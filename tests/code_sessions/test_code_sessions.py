"""The code-sessions surface (``/v1/code/sessions*``) with no worker: the session runtime runs the turn with the
routed model (the scripted fake), and the SDK's own helpers work on the same session."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx

from bench.fakes import Behavior, Text
from tests.code_sessions.ccr_client import Collector, Viewer
from tests.code_sessions.conftest import TOKEN
from tests.runtime import scenarios
from tests.runtime.conftest import KEY, Gateway

T = TypeVar("T")


def wait(predicate: Callable[[], T], timeout: float = 20.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def _types(collector: Collector) -> list[str]:
    return [f.data["payload"]["type"] for f in collector.events()]


def test_crud_and_a_turn_on_the_runtime(gw: Gateway, http: httpx.Client) -> None:
    viewer = Viewer(http, TOKEN)
    config = {"cwd": "/home/dev/project", "model": "claude-haiku-5-5", "sources": []}
    created = viewer.create(title="Fix the flaky test", config=config, tags=["remote-control"])
    assert created.status_code == 200, created.text
    session = created.json()["session"]
    code_id = session["id"]
    assert code_id.startswith("cse_") and session["worker_status"] == "idle" and session["config"] == config
    assert session["tags"] == ["remote-control"] and session["title"] == "Fix the flaky test"
    assert viewer.get(code_id).json()["session"] == session
    assert viewer.rename(code_id, "Fix the flaky retry test").json()["session"]["title"] == "Fix the flaky retry test"
    listed = viewer.list().json()
    assert [s["id"] for s in listed["data"]] == [code_id] and listed["has_more"] is False
    assert listed["first_id"] == listed["last_id"] == code_id
    assert viewer.get("cse_01nosuchsession00000000000").status_code == 404
    bad = http.post("/v1/code/sessions", json={"title": "x", "config": {"cwd": "/"}}, headers=viewer.headers())
    assert bad.status_code == 400 and bad.json()["type"] == "error"

    watcher = viewer.stream(code_id)
    gw.fake.script(Behavior(content=[Text("The test is fixed.")]))
    said = viewer.say(code_id, "Fix it")
    assert said.status_code == 200, said.text
    first = said.json()["results"][0]["sequence_num"]

    def turn() -> list[dict[str, Any]]:
        found = viewer.all_events(code_id)
        return found if found and found[-1]["payload"]["type"] == "result" else []

    events = wait(turn)
    assert [e["payload"]["type"] for e in events] == ["user", "assistant", "result"]
    assert events[0]["sequence_num"] == first and events[0]["payload"]["message"]["content"] == "Fix it"
    assert events[1]["payload"]["message"]["content"] == [{"type": "text", "text": "The test is fixed."}]
    assert events[1]["payload"]["session_id"] == code_id and events[1]["source"] == "worker"
    # the runtime ran the turn with the config's model, routed to the fake
    assert len(gw.fake.requests) == 1 and gw.fake.requests[0].json["model"] == "claude-haiku-5-5"
    assert gw.fake.requests[0].json["messages"][0]["content"] == [{"type": "text", "text": "Fix it"}]
    assert wait(lambda: _types(watcher) == ["user", "assistant", "result"]), _types(watcher)
    ids = [f.id for f in watcher.events()]
    assert ids == [str(e["sequence_num"]) for e in events]
    watcher.close()

    # resumption: from_sequence_num and Last-Event-ID replay only what came after
    resumed = viewer.stream(code_id, from_sequence_num=first)
    assert wait(lambda: _types(resumed) == ["assistant", "result"]), _types(resumed)
    resumed.close()
    by_header = viewer.stream(code_id, last_event_id=str(events[1]["sequence_num"]))
    assert wait(lambda: _types(by_header) == ["result"]), _types(by_header)
    by_header.close()
    assert viewer.events(code_id, cursor=str(events[1]["sequence_num"])).json()["data"] == events[2:]
    assert viewer.events(code_id, cursor="not-a-number").status_code == 400

    # presence and the read marker
    assert viewer.presence(code_id, "viewer-a").json() == {"refresh_after_seconds": 30}
    assert viewer.presence(code_id, "viewer-b").status_code == 200
    assert viewer.get(code_id).json()["session"]["viewers"] == 2
    assert viewer.presence(code_id, "viewer-a", clear=True).status_code == 200
    assert viewer.get(code_id).json()["session"]["viewers"] == 1
    assert viewer.mark_read(code_id).json()["session"]["last_read_event_id"] == events[-1]["event_id"]
    marked = viewer.mark_read(code_id, events[0]["event_id"])
    assert marked.json()["session"]["last_read_event_id"] == events[0]["event_id"]
    assert viewer.mark_read(code_id, "sevt_01nosuchevent0000000000000").status_code == 404

    archived = viewer.archive(code_id)
    assert archived.status_code == 200 and archived.json()["session"]["status"] == "archived"
    assert viewer.archive(code_id).status_code == 409
    assert viewer.say(code_id, "more").status_code == 409
    assert gw.fake.pending == 0


def test_sdk_helpers_on_a_code_session(gw: Gateway, http: httpx.Client) -> None:
    """examples/managed-agents-streaming-deltas: the SDK's stream, send and accumulator on a code session's id."""
    viewer = Viewer(http, TOKEN)
    code_id = viewer.create(config={"cwd": "/srv", "model": "claude-sonnet-5-5"}).json()["session"]["id"]
    session_id = "sesn_" + code_id.removeprefix("cse_")
    assert gw.sdk.beta.sessions.retrieve(session_id).id == session_id
    gw.fake.script(Behavior(content=[Text("Waves fold on sand", chunks=3)], latency_s=1.0))
    out = scenarios.run("deltas", {"base_url": gw.url, "key": KEY, "session_id": session_id, "text": "a poem"})
    assert out["final"] == "Waves fold on sand" and out["previews"][-1] == out["final"]
    # and the code-sessions surface shows the turn the SDK started
    payloads = [e["payload"] for e in viewer.all_events(code_id)]
    assert [p["type"] for p in payloads] == ["user", "assistant", "result"]
    assert payloads[0]["message"]["content"] == [{"type": "text", "text": "a poem"}]
    assert gw.fake.pending == 0 and len(gw.fake.requests) == 1
