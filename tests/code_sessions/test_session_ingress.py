"""Session ingress against a real gateway process (SQLite and PostgreSQL): the transcript log with ``Last-Uuid``
optimistic concurrency (409 + ``x-last-uuid``, the client adopts it and retries, as ``sessionIngress.ts`` does), the
v1 read (``after_last_compact``), the teleport transcript pages, the v2 events; all on the code session's events,
so the worker's internal events, the code-session viewer and the official SDK read the same rows."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx

from tests.code_sessions.ccr_client import VERSION, Bridge, Viewer, Worker, work_secret
from tests.code_sessions.conftest import TOKEN
from tests.runtime.conftest import Gateway


@dataclass
class Ingress:
    """What the CLI sends with the session-ingress token (here the worker token from ``/bridge``)."""

    http: httpx.Client
    token: str

    def headers(self, last_uuid: str | None = None) -> dict[str, str]:
        out = {"Authorization": f"Bearer {self.token}", "anthropic-version": VERSION, "User-Agent": "claude-cli/2"}
        return {**out, **({"Last-Uuid": last_uuid} if last_uuid else {})}

    def put(self, session_id: str, entry: dict[str, Any], last_uuid: str | None) -> httpx.Response:
        url = f"/v1/session_ingress/session/{session_id}"
        return self.http.put(url, json=entry, headers=self.headers(last_uuid))

    def append(self, session_id: str, entry: dict[str, Any], last_uuid: str | None) -> str:
        """The client's loop: on 409 adopt ``x-last-uuid`` and retry (up to 10 times); returns the new last uuid."""
        for _ in range(10):
            r = self.put(session_id, entry, last_uuid)
            if r.status_code in (200, 201):
                return str(entry["uuid"])
            assert r.status_code == 409, r.text
            last_uuid = r.headers["x-last-uuid"]
        raise AssertionError("no append after 10 attempts")

    def log(self, session_id: str, after_last_compact: bool = False) -> httpx.Response:
        params = {"after_last_compact": "true"} if after_last_compact else {}
        return self.http.get(f"/v1/session_ingress/session/{session_id}", params=params, headers=self.headers())

    def teleport(self, session_id: str, limit: int, cursor: str | None = None) -> httpx.Response:
        params: dict[str, Any] = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        return self.http.get(f"/v1/code/sessions/{session_id}/teleport-events", params=params, headers=self.headers())

    def post_events(self, session_id: str, *messages: dict[str, Any]) -> httpx.Response:
        url = f"/v2/session_ingress/session/{session_id}/events"
        return self.http.post(url, json={"events": list(messages)}, headers=self.headers())


def _entry(uuid: str, parent: str | None, text: str, kind: str = "user") -> dict[str, Any]:
    role = "assistant" if kind == "assistant" else "user"
    return {
        "type": kind,
        "uuid": uuid,
        "parentUuid": parent,
        "sessionId": "local",
        "timestamp": "2026-12-05T12:00:00.000Z",
        "message": {"role": role, "content": text},
    }


def _session(http: httpx.Client) -> tuple[str, Ingress, Worker]:
    viewer = Viewer(http, TOKEN)
    code_id = str(viewer.create().json()["session"]["id"])
    creds = viewer.bridge(code_id).json()
    return (
        code_id,
        Ingress(http, creds["worker_jwt"]),
        Worker(http, code_id, creds["worker_jwt"], creds["worker_epoch"]),
    )


def test_transcript_append_with_last_uuid(gw: Gateway, http: httpx.Client) -> None:
    code_id, ingress, worker = _session(http)
    assert ingress.log(code_id).json() == {"loglines": []}
    first = _entry("u-1", None, "Fix the flaky retry test.")
    assert ingress.put(code_id, first, None).status_code == 200
    second = _entry("u-2", "u-1", "Looking at it.", "assistant")
    assert ingress.put(code_id, second, "u-1").status_code == 200
    stale = ingress.put(code_id, _entry("u-3", "u-1", "late"), "u-1")
    assert stale.status_code == 409 and stale.headers["x-last-uuid"] == "u-2"
    assert stale.json()["error"]["type"] == "invalid_request_error"
    assert ingress.put(code_id, _entry("u-3", "u-1", "late"), None).status_code == 409  # "no entry yet" is stale too
    third = _entry("u-3", "u-2", "Done.", "assistant")
    assert ingress.append(code_id, third, "u-1") == "u-3"  # adopts x-last-uuid u-2, then succeeds
    assert ingress.put(code_id, third, "u-2").status_code == 200  # a retry of the stored last entry: no duplicate
    summary = {"type": "summary", "summary": "Retry test fixed", "leafUuid": "u-3"}  # no uuid: does not move it
    assert ingress.put(code_id, summary, "u-3").status_code == 200
    assert ingress.put(code_id, _entry("u-4", "u-3", "again"), "u-3").status_code == 200

    lines = ingress.log(code_id).json()["loglines"]
    assert [line.get("uuid") for line in lines] == ["u-1", "u-2", "u-3", None, "u-4"]
    assert lines[0] == first  # stored as sent
    # the same rows are the worker's internal events (CCR v2) and the SDK session's id reads them too
    internal = worker.read_internal().json()["data"]
    assert [e["payload"].get("uuid") for e in internal] == ["u-1", "u-2", "u-3", None, "u-4"]
    sdk_id = "sesn_" + code_id.removeprefix("cse_")
    assert ingress.log(sdk_id).json()["loglines"] == lines
    # a worker's internal event that is not a transcript entry (the worker protocol takes any SDK message): left out
    # of the v1 read, whose answer must be entries (it was a 500 with response validation on), still the worker's
    odd = {"payload": {"type": "x", "uuid": "w-1", "parentUuid": 5, "timestamp": "yesterday"}}
    assert worker.internal(odd).status_code == 200
    assert ingress.log(code_id).json()["loglines"] == lines
    assert [e["payload"].get("uuid") for e in worker.read_internal().json()["data"]][-1] == "w-1"


def test_after_last_compact_and_teleport_pages(gw: Gateway, http: httpx.Client) -> None:
    code_id, ingress, _worker = _session(http)
    last = None
    for i in range(5):
        last = ingress.append(code_id, _entry(f"e-{i}", last, f"entry {i}"), last)
    boundary = {"type": "system", "subtype": "compact_boundary", "uuid": "c-1", "parentUuid": last}
    last = ingress.append(code_id, boundary, last)
    ingress.append(code_id, _entry("e-after", last, "after compaction"), last)
    compacted = ingress.log(code_id, after_last_compact=True).json()["loglines"]
    assert [line["uuid"] for line in compacted] == ["c-1", "e-after"]

    pages, cursor = [], None
    for _ in range(10):
        page = ingress.teleport(code_id, limit=3, cursor=cursor)
        assert page.status_code == 200, page.text
        pages.append([e["payload"]["uuid"] for e in page.json()["data"]])
        cursor = page.json().get("next_cursor")
        if cursor is None:
            break
    assert pages == [["e-0", "e-1", "e-2"], ["e-3", "e-4", "c-1"], ["e-after"]]
    flags = [e["is_compaction"] for e in ingress.teleport(code_id, limit=1000).json()["data"]]
    assert flags == [False] * 5 + [True, False]


def test_concurrent_appends_one_wins(gw: Gateway, http: httpx.Client) -> None:
    code_id, ingress, _worker = _session(http)
    assert ingress.put(code_id, _entry("root", None, "start"), None).status_code == 200

    def put(i: int) -> httpx.Response:
        with httpx.Client(base_url=gw.url, timeout=30) as own:
            return Ingress(own, ingress.token).put(code_id, _entry(f"c-{i}", "root", f"racer {i}"), "root")

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(put, range(8)))
    won = [i for i, r in enumerate(answers) if r.status_code == 200]
    assert len(won) == 1, [r.status_code for r in answers]
    assert all(
        r.status_code == 409 and r.headers["x-last-uuid"] == f"c-{won[0]}"
        for r in answers
        if r not in [answers[won[0]]]
    )
    assert [line["uuid"] for line in ingress.log(code_id).json()["loglines"]] == ["root", f"c-{won[0]}"]


def test_v2_events_are_the_sessions_events(gw: Gateway, http: httpx.Client) -> None:
    code_id, ingress, _worker = _session(http)
    assistant = {
        "type": "assistant",
        "uuid": "a-1",
        "session_id": code_id,
        "parent_tool_use_id": None,
        "message": {"role": "assistant", "content": [{"type": "text", "text": "The test passes now."}]},
    }
    result = {"type": "result", "subtype": "success", "uuid": "r-1", "session_id": code_id, "is_error": False}
    answer = ingress.post_events(code_id, assistant, result)
    assert answer.status_code == 200, answer.text
    viewed = Viewer(http, TOKEN).all_events(code_id)
    assert [e["payload"]["uuid"] for e in viewed if e["source"] == "worker"] == ["a-1", "r-1"]
    sdk_id = "sesn_" + code_id.removeprefix("cse_")
    sdk_events = list(gw.sdk.beta.sessions.events.list(sdk_id))
    texts = [e.content[0].text for e in sdk_events if e.type == "agent.message"]  # type: ignore[union-attr]
    assert texts == ["The test passes now."]
    assert gw.sdk.beta.sessions.retrieve(sdk_id).status == "idle"
    # a message type with a NUL (any string is an SDK message type here): stored as sent, on PostgreSQL too (its text
    # column refused the NUL: a 500)
    odd = {"type": "x\u0000y", "uuid": "n-1"}
    assert ingress.post_events(code_id, odd).status_code == 200
    assert [e["payload"] for e in Viewer(http, TOKEN).all_events(code_id) if e["source"] == "worker"][-1] == odd


def test_scope_and_errors(gw: Gateway, http: httpx.Client) -> None:
    code_id, ingress, _worker = _session(http)
    other_id, other, _other_worker = _session(http)
    assert other.log(code_id).status_code == 404  # another session's token
    assert other.put(code_id, _entry("x", None, "x"), None).status_code == 404
    assert other.http.get("/v1/agents", headers=other.headers()).status_code == 403  # ingress token, not a key
    # a uuid that could not come back in x-last-uuid (a header is visible ASCII) is refused, not stored (it was
    # stored, and the next 409 was a 500)
    refused = ingress.put(code_id, _entry("naïve-☃", None, "x"), None)
    assert refused.status_code == 400 and refused.json()["error"]["type"] == "invalid_request_error"
    assert ingress.log(code_id).json() == {"loglines": []}
    missing = ingress.log("cse_01NoSuchSessionNoSuchSession")
    assert missing.status_code == 404 and missing.json()["type"] == "error"
    assert Viewer(http, TOKEN).archive(other_id).status_code == 200
    archived = Ingress(http, TOKEN).put(other_id, _entry("y", None, "y"), None)
    assert archived.status_code == 409 and "x-last-uuid" not in archived.headers


def test_work_secret_ingress_token_reaches_its_session(gw: Gateway, http: httpx.Client) -> None:
    """The bridge's path: the work item's WorkSecret carries ``session_ingress_token``; the CLI writes the transcript
    with it. It reaches its own session only."""
    bridge, viewer = Bridge(http, TOKEN), Viewer(http, TOKEN)
    registered = bridge.register().json()
    environment_id, secret = registered["environment_id"], registered["environment_secret"]
    code_id = viewer.create(environment_id=environment_id).json()["session"]["id"]
    other_id = viewer.create().json()["session"]["id"]
    item = None
    for _ in range(100):
        item = bridge.poll(environment_id, secret).json()
        if item:
            break
        time.sleep(0.1)
    assert item, "no work item was handed out"
    ingress = Ingress(http, work_secret(item)["session_ingress_token"])
    assert ingress.put(code_id, _entry("w-1", None, "from the bridge"), None).status_code == 200
    assert [line["uuid"] for line in ingress.log(code_id).json()["loglines"]] == ["w-1"]
    assert ingress.log(other_id).status_code == 404
