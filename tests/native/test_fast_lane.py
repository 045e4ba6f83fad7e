"""The Messages fast lane (gateway.fastlane): which requests it takes, which it leaves to connexion, and that its
answers, access lines and metrics are connexion's.

Two gateways on the same fake upstream: one as built, one whose lane is unbound (every request goes through
connexion, as before the lane existed). The lane's counters say which path a request took.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.types import Message, Receive, Scope, Send

from bench.fakes import AnthropicFake, Behavior
from gateway.app import create_app
from gateway.fastlane import FastLane
from gateway.settings import settings_from_mapping
from tests.fast_lane import lane_of

KEY = "sk-gw-lane-test-0123456789"
HEADERS = {"x-api-key": KEY, "anthropic-version": "2023-06-01", "content-type": "application/json"}
BODY: dict[str, Any] = {"model": "claude-sonnet-4-5", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
REQUEST_ID = re.compile(r"req_[0-9A-Za-z]{24}")


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(record.getMessage()))


@contextmanager
def access_lines() -> Iterator[_Lines]:
    """The access lines of every gateway in this process (the ``gateway.access`` logger is shared)."""
    access = logging.getLogger("gateway.access")
    lines, level = _Lines(), access.level
    access.addHandler(lines)
    access.setLevel(logging.INFO)
    try:
        yield lines
    finally:
        access.removeHandler(lines)
        access.setLevel(level)


@contextmanager
def served(upstream: AnthropicFake, *, lane: bool, keyed: bool = True) -> Iterator[tuple[str, FastLane]]:
    doc = {
        "gateway": {
            "api_keys": [{"key": KEY, "name": "lane-team", "workspace": "ws-lane"}] if keyed else [],
            "validate_responses": True,
        },
        "model_list": [
            {"model_name": "fake", "litellm_params": {"model": "anthropic/*", "api_base": upstream.url, "api_key": "k"}}
        ],
        "routing": {"default": "fake"},
        "runtime": {"run_sessions": False},
        "ops": {"log_format": "text"},
    }
    app = create_app(settings_from_mapping(doc))
    found = lane_of(app)
    if not lane:
        found.routes = {}  # unbound: everything goes to connexion
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield url, found
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def upstream() -> Iterator[AnthropicFake]:
    with AnthropicFake() as server:
        yield server


@pytest.fixture(scope="module")
def gateway(upstream: AnthropicFake) -> Iterator[tuple[str, FastLane]]:
    with served(upstream, lane=True) as served_gateway:
        yield served_gateway


def test_the_lane_binds_both_operations(gateway: tuple[str, FastLane]) -> None:
    _url, lane = gateway
    assert sorted(lane.routes) == ["/v1/messages", "/v1/messages/count_tokens"]
    assert lane.routes["/v1/messages"].operation_id == "handlers.native.messages.create"
    assert lane.routes["/v1/messages/count_tokens"].operation_id == "handlers.native.messages.count_tokens"
    assert lane.routes["/v1/messages"].responses is not None  # validate_responses is on in this config


@pytest.mark.parametrize(
    ("path", "headers", "body"),
    [
        ("/v1/messages", HEADERS, BODY),
        ("/v1/messages?beta=true", HEADERS, BODY),
        ("/v1/messages?beta=true", {**HEADERS, "x-api-key": "", "authorization": f"Bearer {KEY}"}, BODY),
        ("/v1/messages?beta=true", HEADERS, {**BODY, "stream": True}),
        ("/v1/messages/count_tokens", HEADERS, {k: v for k, v in BODY.items() if k != "max_tokens"}),
        ("/v1/messages/count_tokens?beta=true", HEADERS, {k: v for k, v in BODY.items() if k != "max_tokens"}),
    ],
)
def test_the_lane_takes_plain_requests(
    gateway: tuple[str, FastLane], path: str, headers: dict[str, str], body: Any
) -> None:
    url, lane = gateway
    taken, passed = lane.taken, lane.passed
    response = httpx.post(url + path, headers=headers, content=json.dumps(body))
    assert response.status_code == 200, response.text
    assert (lane.taken, lane.passed) == (taken + 1, passed)


def _chunks() -> Iterator[bytes]:
    yield json.dumps(BODY).encode()


@pytest.mark.parametrize(
    ("method", "path", "headers", "content", "status"),
    [
        ("POST", "/v1/messages", {**HEADERS, "content-type": "text/plain"}, json.dumps(BODY), 415),
        ("POST", "/v1/messages", {**HEADERS, "content-type": "application/json; charset=utf-8"}, json.dumps(BODY), 200),
        ("POST", "/v1/messages?beta=false", HEADERS, json.dumps(BODY), 200),
        ("POST", "/v1/messages?beta=yes", HEADERS, json.dumps(BODY), 400),
        ("POST", "/v1/messages", HEADERS, "", 400),
        ("POST", "/v1/messages", HEADERS, _chunks(), 200),  # chunked: no Content-Length
        ("GET", "/v1/messages", HEADERS, None, 405),
        ("POST", "/v1/messages/", HEADERS, json.dumps(BODY), 307),  # connexion redirects to the slashless path
    ],
)
def test_unusual_requests_fall_through_to_connexion(
    gateway: tuple[str, FastLane], method: str, path: str, headers: dict[str, str], content: Any, status: int
) -> None:
    url, lane = gateway
    taken, passed = lane.taken, lane.passed
    response = httpx.request(method, url + path, headers=headers, content=content)
    assert response.status_code == status, response.text
    assert lane.taken == taken
    in_lane_path = path.split("?")[0] in lane.routes
    assert lane.passed == passed + (1 if in_lane_path else 0)


def _comparable(response: httpx.Response) -> tuple[int, dict[str, str], str]:
    ignored = {"request-id", "upstream-request-id", "date", "server"}
    headers = {k: v for k, v in response.headers.items() if k not in ignored}
    body = REQUEST_ID.sub("req_X", response.text)
    body = re.sub(r'"id": ?"[^"]*"', '"id":"X"', body)
    return response.status_code, headers, body


def _line(line: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in line.items() if k not in ("request_id", "duration_ms", "ttfb_ms")}


DEEP = json.dumps({**BODY, "metadata": {"user_id": "u"}})[:-1] + ', "system": ' + "[" * 80 + "]" * 80 + "}"
CASES: list[tuple[str, dict[str, str], bytes]] = [
    ("/v1/messages", HEADERS, json.dumps(BODY).encode()),
    ("/v1/messages?beta=true", HEADERS, json.dumps({**BODY, "stream": True}).encode()),
    ("/v1/messages/count_tokens", HEADERS, json.dumps({"model": BODY["model"], "messages": BODY["messages"]}).encode()),
    ("/v1/messages", {k: v for k, v in HEADERS.items() if k != "x-api-key"}, json.dumps(BODY).encode()),
    ("/v1/messages", {**HEADERS, "x-api-key": "sk-wrong"}, json.dumps(BODY).encode()),
    ("/v1/messages?beta=true", {**HEADERS, "x-api-key": "", "authorization": "Bearer nope"}, b"{"),
    ("/v1/messages", {**HEADERS, "x-api-key": "sk-gw-key-not-a-real-virtual-key-000"}, json.dumps(BODY).encode()),
    ("/v1/messages", HEADERS, b"{not json"),
    ("/v1/messages", HEADERS, b'{"model": "\xff"}'),
    ("/v1/messages", HEADERS, b"null"),
    ("/v1/messages", HEADERS, b"[1, 2]"),
    ("/v1/messages", HEADERS, b'{"model": NaN}'),
    ("/v1/messages", HEADERS, json.dumps({**BODY, "max_tokens": "many"}).encode()),
    ("/v1/messages", HEADERS, json.dumps({k: v for k, v in BODY.items() if k != "model"}).encode()),
    ("/v1/messages", HEADERS, json.dumps({**BODY, "messages": [{"role": "robot", "content": "x"}]}).encode()),
    ("/v1/messages", HEADERS, DEEP.encode()),
    ("/v1/messages/count_tokens?beta=true", HEADERS, json.dumps({"messages": []}).encode()),
    ("/v1/messages", HEADERS, json.dumps({**BODY, "model": "no-such-model-anywhere"}).encode()),
]


# requests the upstream fails (status), to compare the gateway's error answers after an upstream call (the 529
# cools the deployment down: last)
UPSTREAM_FAILS: list[tuple[str, bytes, int]] = [
    ("/v1/messages?beta=true", json.dumps(BODY).encode(), 400),
    ("/v1/messages", json.dumps({**BODY, "stream": True}).encode(), 529),
]


def test_the_lane_answers_logs_and_counts_as_connexion_does(upstream: AnthropicFake) -> None:
    with (
        access_lines() as lines,
        served(upstream, lane=True) as (fast_url, lane),
        served(upstream, lane=False) as (plain_url, unbound),
    ):
        failing = [(path, HEADERS, content, status) for path, content, status in UPSTREAM_FAILS]
        for path, headers, content, status in [*[(*case, 0) for case in CASES], *failing]:
            answers = []
            for url in (fast_url, plain_url):
                if status:
                    upstream.script(Behavior(status=status))
                before = len(lines.lines)
                response = httpx.post(url + path, headers=headers, content=content)
                deadline = time.monotonic() + 5
                while len(lines.lines) == before:  # the access line is written after the response is sent
                    assert time.monotonic() < deadline, "no access line"
                    time.sleep(0.01)
                answers.append((_comparable(response), _line(lines.lines[-1])))
                assert upstream.pending == 0, "a scripted failure was not used"
            assert answers[0] == answers[1], path

        def requests(url: str) -> list[str]:
            text = httpx.get(url + "/metrics").text
            return sorted(line for line in text.splitlines() if line.startswith("gateway_requests_total{"))

        assert requests(fast_url) == requests(plain_url)
    # every case is answered by the lane itself, errors included
    assert (lane.taken, lane.passed, unbound.taken) == (len(CASES) + len(UPSTREAM_FAILS), 0, 0)


def test_the_lane_in_local_mode(upstream: AnthropicFake) -> None:
    with access_lines() as lines, served(upstream, lane=True, keyed=False) as (url, lane):
        response = httpx.post(url + "/v1/messages?beta=true", headers=HEADERS, content=json.dumps(BODY))
        assert response.status_code == 200, response.text
        assert lane.taken == 1
        deadline = time.monotonic() + 5
        while not lines.lines:
            assert time.monotonic() < deadline
            time.sleep(0.01)
    assert (lines.lines[-1]["operation"], lines.lines[-1]["key_name"]) == ("native.messages.create", "local")


async def test_a_client_gone_mid_body_goes_to_connexion_with_what_was_read() -> None:
    """The lane reads the body after the security check; a disconnect before its end hands the request to connexion
    with the messages read so far replayed (connexion then answers as it always did)."""
    settings = settings_from_mapping({"gateway": {"api_keys": []}, "runtime": {"run_sessions": False}})
    lane = lane_of(create_app(settings))  # local mode: the security check needs no lifespan state
    seen: list[Message] = []

    async def connexion(scope: Scope, receive: Receive, send: Send) -> None:
        seen.extend([await receive(), await receive()])

    lane.app = connexion
    sent: list[Message] = [
        {"type": "http.request", "body": b'{"model": "m",', "more_body": True},
        {"type": "http.disconnect"},
    ]
    pending = iter(sent)

    async def receive() -> Message:
        return next(pending)

    async def send(message: Message) -> None:
        raise AssertionError("the lane answered")

    headers = [(b"content-type", b"application/json"), (b"content-length", b"100")]
    scope = {"type": "http", "method": "POST", "path": "/v1/messages", "query_string": b"", "headers": headers}
    await lane(scope, receive, send)
    assert seen == sent
    assert (lane.taken, lane.passed) == (0, 1)


def test_the_lane_binds_nothing_that_connexion_does_not_route_to_these_handlers() -> None:
    """A spec without these operations (the core tests' mini spec, its own handlers package): nothing is bound, and
    every request goes to connexion."""
    from tests.core.conftest import mini_settings

    assert lane_of(create_app(mini_settings())).routes == {}
