"""A client of the bridge, code-session and CCR v2 worker surfaces that follows the shapes Claude Code sends
(claude-desktop-surface.md §7.2, §7.3, §9: headers, bodies, the WorkSecret, SSE framing). The real CLI cannot be
pointed at the gateway for these calls (docs/development/notes/issue-12-code-sessions.md says why), so the tests
drive the protocol with this client."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

VERSION = "2023-06-01"
ENVIRONMENTS_BETA = "environments-2025-11-01"
CCR_BETA = "ccr-byoc-2025-07-29"


def oauth_headers(token: str) -> dict[str, str]:
    """``getOAuthHeaders`` of the CLI (Bearer, JSON, version, client platform)."""
    return {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        "anthropic-version": VERSION,
        "anthropic-client-platform": "claude_code_cli",
    }


@dataclass
class Frame:
    event: str | None
    id: str | None
    data: Any
    comment: str | None = None


def frames(response: httpx.Response) -> Iterator[Frame]:
    """SSE frames (and comments) of a streamed response, as the CLI's SSETransport reads them."""
    event: str | None = None
    ident: str | None = None
    data: list[str] = []
    for line in response.iter_lines():
        if line.startswith(":"):
            yield Frame(None, None, None, comment=line[1:].strip())
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("id:"):
            ident = line[3:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
        elif line == "" and (event or data):
            yield Frame(event, ident, json.loads("\n".join(data)) if data else None)
            event, ident, data = None, None, []


class Collector:
    """Reads an SSE stream in a thread; ``frames`` grows as they arrive."""

    def __init__(self, client: httpx.Client, url: str, headers: dict[str, str], params: dict[str, Any]) -> None:
        self.frames: list[Frame] = []
        self.status: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(client, url, headers, params), daemon=True)
        self._thread.start()

    def _run(self, client: httpx.Client, url: str, headers: dict[str, str], params: dict[str, Any]) -> None:
        try:
            self._read(client, url, headers, params)
        except (httpx.HTTPError, RuntimeError):  # the test closed the client under the reading thread
            if not self._stop.is_set():
                raise

    def _read(self, client: httpx.Client, url: str, headers: dict[str, str], params: dict[str, Any]) -> None:
        with client.stream("GET", url, headers={**headers, "Accept": "text/event-stream"}, params=params) as r:
            self.status = r.status_code
            for frame in frames(r):
                self.frames.append(frame)
                if self._stop.is_set():
                    return

    def events(self) -> list[Frame]:
        return [f for f in self.frames if f.event is not None]

    def close(self) -> None:
        self._stop.set()


@dataclass
class Bridge:
    """``claude remote-control`` / Desktop Dispatch: the Environments API with the OAuth token."""

    http: httpx.Client
    token: str

    def headers(self) -> dict[str, str]:
        return {
            **oauth_headers(self.token),
            "anthropic-beta": ENVIRONMENTS_BETA,
            "x-environment-runner-version": "2.1.332",
        }

    def register(self, environment_id: str | None = None, **extra: Any) -> httpx.Response:
        body: dict[str, Any] = {
            "machine_name": "dev-laptop",
            "directory": "/home/dev/project",
            "branch": "main",
            "git_repo_url": None,
            "max_sessions": 1,
            "metadata": {"worker_type": "claude_code"},
            **extra,
        }
        if environment_id is not None:
            body["environment_id"] = environment_id
        return self.http.post("/v1/environments/bridge", json=body, headers=self.headers())

    def poll(self, environment_id: str, secret: str) -> httpx.Response:
        headers = {**self.headers(), "Authorization": f"Bearer {secret}"}
        return self.http.get(f"/v1/environments/{environment_id}/work/poll", headers=headers)

    def ack(self, environment_id: str, work_id: str, session_token: str) -> httpx.Response:
        headers = {**self.headers(), "Authorization": f"Bearer {session_token}"}
        return self.http.post(f"/v1/environments/{environment_id}/work/{work_id}/ack", json={}, headers=headers)

    def deregister(self, environment_id: str) -> httpx.Response:
        return self.http.delete(f"/v1/environments/bridge/{environment_id}", headers=self.headers())

    def reconnect(self, environment_id: str, session_id: str) -> httpx.Response:
        path = f"/v1/environments/{environment_id}/bridge/reconnect"
        return self.http.post(path, json={"session_id": session_id}, headers=self.headers())


def work_secret(item: dict[str, Any]) -> dict[str, Any]:
    """The WorkSecret of a work item (base64url JSON, padding optional as in the CLI's decoder)."""
    raw = str(item["secret"])
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    return decoded


@dataclass
class Worker:
    """The CCR v2 worker transport (``ccrClient.ts``) of one session."""

    http: httpx.Client
    session_id: str
    token: str
    epoch: int = 0
    streams: list[Collector] = field(default_factory=list)

    def headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.token}",
            "anthropic-version": VERSION,
            "Content-Type": "application/json",
            "User-Agent": "claude-code/2.1.332",
        }

    def path(self, tail: str = "") -> str:
        return f"/v1/code/sessions/{self.session_id}/worker{tail}"

    def register(self) -> httpx.Response:
        r = self.http.post(self.path("/register"), json={}, headers=self.headers())
        if r.status_code == 200:
            self.epoch = int(r.json()["worker_epoch"])
        return r

    def state(self, status: str, **metadata: Any) -> httpx.Response:
        body = {"worker_epoch": self.epoch, "worker_status": status, "external_metadata": metadata}
        return self.http.put(self.path(), json=body, headers=self.headers())

    def read_state(self) -> httpx.Response:
        return self.http.get(self.path(), headers=self.headers())

    def heartbeat(self) -> httpx.Response:
        body = {"session_id": self.session_id, "worker_epoch": self.epoch}
        return self.http.post(self.path("/heartbeat"), json=body, headers=self.headers())

    def send(self, *payloads: dict[str, Any], ephemeral: bool = False) -> httpx.Response:
        events = [{"payload": p, **({"ephemeral": True} if ephemeral else {})} for p in payloads]
        return self.http.post(
            self.path("/events"), json={"worker_epoch": self.epoch, "events": events}, headers=self.headers()
        )

    def internal(self, *events: dict[str, Any]) -> httpx.Response:
        body = {"worker_epoch": self.epoch, "events": list(events)}
        return self.http.post(self.path("/internal-events"), json=body, headers=self.headers())

    def read_internal(self, subagents: bool = False) -> httpx.Response:
        params = {"subagents": "true"} if subagents else {}
        return self.http.get(self.path("/internal-events"), params=params, headers=self.headers())

    def delivered(self, event_id: str, status: str = "received") -> httpx.Response:
        body = {"worker_epoch": self.epoch, "updates": [{"event_id": event_id, "status": status}]}
        return self.http.post(self.path("/events/delivery"), json=body, headers=self.headers())

    def stream(self, from_sequence_num: int = 0) -> Collector:
        params = {"from_sequence_num": from_sequence_num} if from_sequence_num else {}
        collector = Collector(self.http, self.path("/events/stream"), self.headers(), params)
        self.streams.append(collector)
        return collector


@dataclass
class Viewer:
    """The code-sessions API with the OAuth token (remote viewer, ``--remote``, the env-less bridge)."""

    http: httpx.Client
    token: str

    def headers(self) -> dict[str, str]:
        return {**oauth_headers(self.token), "anthropic-beta": CCR_BETA, "x-organization-uuid": "org-local"}

    def create(self, title: str = "Remote Control session", **extra: Any) -> httpx.Response:
        body = {"title": title, "bridge": {}, "tags": ["remote-control"], "config": {"cwd": "/home/dev/project"}}
        body.update(extra)
        return self.http.post("/v1/code/sessions", json=body, headers=self.headers())

    def say(self, session_id: str, text: str, uuid: str = "9a7b6c5d-4e3f-4a1b-8c2d-0e1f2a3b4c5d") -> httpx.Response:
        payload = {
            "type": "user",
            "uuid": uuid,
            "session_id": session_id,
            "parent_tool_use_id": None,
            "message": {"role": "user", "content": text},
        }
        body = {"session_id": session_id, "events": [{"payload": payload}]}
        return self.http.post(f"/v1/code/sessions/{session_id}/events", json=body, headers=self.headers())

    def events(self, session_id: str, cursor: str | None = None) -> httpx.Response:
        params = {"sort_order": "asc", **({"cursor": cursor} if cursor else {})}
        return self.http.get(f"/v1/code/sessions/{session_id}/events", params=params, headers=self.headers())

    def all_events(self, session_id: str) -> list[dict[str, Any]]:
        """Every page, as the CLI polls (while ``next_cursor`` is set)."""
        out: list[dict[str, Any]] = []
        cursor = None
        for _ in range(50):
            page = self.events(session_id, cursor).json()
            out.extend(page["data"])
            cursor = page.get("next_cursor")
            if not cursor:
                break
        return out

    def stream(self, session_id: str, from_sequence_num: int = 0, last_event_id: str | None = None) -> Collector:
        params = {"from_sequence_num": from_sequence_num} if from_sequence_num else {}
        headers = {**self.headers(), **({"Last-Event-ID": last_event_id} if last_event_id else {})}
        return Collector(self.http, f"/v1/code/sessions/{session_id}/events/stream", headers, params)

    def bridge(self, session_id: str) -> httpx.Response:
        return self.http.post(f"/v1/code/sessions/{session_id}/bridge", json={}, headers=self.headers())

    def get(self, session_id: str) -> httpx.Response:
        return self.http.get(f"/v1/code/sessions/{session_id}", headers=self.headers())

    def rename(self, session_id: str, title: str) -> httpx.Response:
        return self.http.put(f"/v1/code/sessions/{session_id}", json={"title": title}, headers=self.headers())

    def archive(self, session_id: str) -> httpx.Response:
        return self.http.post(f"/v1/code/sessions/{session_id}/archive", json={}, headers=self.headers())

    def list(self) -> httpx.Response:
        return self.http.get("/v1/code/sessions", headers=self.headers())

    def presence(self, session_id: str, client_id: str, clear: bool = False) -> httpx.Response:
        body = {"client_id": client_id, "clear": clear}
        return self.http.post(f"/v1/code/sessions/{session_id}/client/presence", json=body, headers=self.headers())

    def mark_read(self, session_id: str, event_id: str | None = None) -> httpx.Response:
        body = {"event_id": event_id} if event_id else {}
        return self.http.post(f"/v1/code/sessions/{session_id}/mark_read", json=body, headers=self.headers())
