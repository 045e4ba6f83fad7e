"""The reverse proxy end to end: a real gateway process in front of fake Anthropic hosts on 127.0.0.1."""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from aiohttp import web

from tests.proxy.conftest import GATEWAY_KEY, READ_TIMEOUT, Gateway
from tests.proxy.fake_upstream import FakeUpstream, Received

ERROR_KEYS = {"type", "error", "request_id"}


def envelope(response: httpx.Response, status: int, error_type: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == ERROR_KEYS and body["type"] == "error"
    assert body["error"]["type"] == error_type
    assert response.headers["request-id"] == body["request_id"]
    return str(body["error"]["message"])


def nobody_else(fakes: dict[str, FakeUpstream], *allowed: str) -> None:
    for name, fake in fakes.items():
        if name not in allowed:
            assert fake.records == [], f"{name} was contacted: {fake.records}"


# --- bodies, statuses and headers ---------------------------------------------------------------------------------


def test_bodies_statuses_and_headers_are_faithful(gateway: Gateway, fakes: dict[str, FakeUpstream]) -> None:
    sent = '{"events" : [ {"event_type":"Ünïcode ✓","event_data":{"n":12345678901234567890123,"s":"\\u00e9"}} ]}\n'
    answer = gzip.compress(b'{"status":"accepted","note":"bytes as sent"}')

    async def respond(request: web.Request, record: Received) -> web.StreamResponse:
        await fakes["api"].read_body(request, record)
        response = web.Response(body=answer, status=202, content_type="application/json")
        response.headers["Content-Encoding"] = "gzip"
        response.headers["X-Custom"] = "kept"
        response.headers["request-id"] = "req_upstream_0001"
        response.headers.add("Set-Cookie", "a=1; Path=/")
        response.headers.add("Set-Cookie", "b=2; Path=/")
        return response

    fakes["api"].script("/api/event_logging/v2/batch", respond)
    with httpx.stream(
        "POST",
        gateway.url + "/api/event_logging/v2/batch?source=test",
        content=sent.encode("utf-8"),
        headers={"content-type": "application/json", "accept-encoding": "gzip"},
    ) as response:
        raw = b"".join(response.iter_raw())
    assert response.status_code == 202
    assert raw == answer  # not decompressed, not re-encoded
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["x-custom"] == "kept"
    assert response.headers.get_list("set-cookie") == ["a=1; Path=/", "b=2; Path=/"]
    assert response.headers["upstream-request-id"] == "req_upstream_0001"
    assert response.headers["request-id"].startswith("req_") and response.headers["request-id"] != "req_upstream_0001"
    (record,) = fakes["api"].records
    assert record.method == "POST" and record.target == "/api/event_logging/v2/batch?source=test"
    assert record.body == sent.encode("utf-8")
    assert record.header("content-length") == str(len(sent.encode("utf-8")))
    nobody_else(fakes, "api")


def test_request_header_hygiene(gateway: Gateway, fakes: dict[str, FakeUpstream]) -> None:
    client_headers = {
        "Connection": "keep-alive, X-Hop-Secret",
        "X-Hop-Secret": "must-not-travel",
        "Keep-Alive": "timeout=5",
        "TE": "trailers",
        "Proxy-Authorization": "Basic cHJveHk6c2VjcmV0",
        "Host": "evil.example",
        "Cookie": "sessionKey=sk-ant-sid01-cookie",
        "User-Agent": "claude-code/2.1.126",
        "anthropic-beta": "oauth-2025-04-20",
        "X-Custom-Client": "yes",
        "Authorization": "Bearer sk-ant-oat01-client",
    }
    response = httpx.get(gateway.url + "/api/oauth/profile", headers=client_headers)
    assert response.status_code == 200
    (record,) = fakes["api"].records
    names = record.header_names()
    for dropped in ("connection", "x-hop-secret", "keep-alive", "te", "proxy-authorization", "cookie"):
        assert dropped not in names, dropped
    assert record.header("host") == f"127.0.0.1:{fakes['api'].port}"
    assert record.header("user-agent") == "claude-code/2.1.126"
    assert record.header("anthropic-beta") == "oauth-2025-04-20"
    assert record.header("x-custom-client") == "yes"
    assert record.header("authorization") == "Bearer sk-ant-oat01-client"
    sent = {k.lower() for k in client_headers} | {"accept", "accept-encoding"}  # httpx's own defaults
    assert names - {"host"} <= sent, f"the gateway added {names - {'host'} - sent}"


def test_response_hop_by_hop_headers_are_dropped(gateway: Gateway, fakes: dict[str, FakeUpstream]) -> None:
    async def respond(request: web.Request, record: Received) -> web.StreamResponse:
        response = web.json_response({"organization_role": "admin", "workspace_role": None, "organization_name": "x"})
        response.headers["Keep-Alive"] = "timeout=99"
        response.headers["Proxy-Authenticate"] = "Basic realm=upstream"
        response.headers["X-Kept"] = "1"
        return response

    fakes["api"].script("/api/oauth/claude_cli/roles", respond)
    response = httpx.get(gateway.url + "/api/oauth/claude_cli/roles")
    assert response.status_code == 200 and response.headers["x-kept"] == "1"
    assert "proxy-authenticate" not in response.headers
    assert response.headers.get("keep-alive") != "timeout=99"
    assert len(response.headers.get_list("date")) == 1


def test_credentials_reach_only_the_operation_host(gateway: Gateway, fakes: dict[str, FakeUpstream]) -> None:
    cookie = "sessionKey=sk-ant-sid01-secret"
    # api.anthropic.com operation: bearer and x-api-key, never the cookie
    httpx.get(
        gateway.url + "/api/oauth/profile",
        headers={"Authorization": "Bearer oauth-1", "x-api-key": "sk-ant-api-client", "Cookie": cookie},
    )
    (api,) = fakes["api"].records
    assert api.header("authorization") == "Bearer oauth-1" and api.header("x-api-key") == "sk-ant-api-client"
    assert api.header("cookie") is None
    nobody_else(fakes, "api")
    # claude.ai operation: the cookie goes there (and only there)
    httpx.get(gateway.url + "/api/bootstrap", headers={"Cookie": cookie, "Authorization": "Bearer oauth-2"})
    (web_call,) = fakes["claude_ai"].records
    assert web_call.header("cookie") == cookie and web_call.header("authorization") == "Bearer oauth-2"
    assert len(fakes["api"].records) == 1
    # the token host
    httpx.post(gateway.url + "/v1/oauth/token", json={"grant_type": "refresh_token", "refresh_token": "r"})
    (token,) = fakes["platform"].records
    assert json.loads(token.body) == {"grant_type": "refresh_token", "refresh_token": "r"}
    assert fakes["evil"].records == []


def test_gateway_keys_are_never_forwarded(gateway: Gateway, fakes: dict[str, FakeUpstream]) -> None:
    httpx.get(gateway.url + "/api/oauth/usage", headers={"Authorization": f"Bearer {GATEWAY_KEY}"})
    httpx.get(gateway.url + "/api/oauth/usage", headers={"x-api-key": GATEWAY_KEY, "Authorization": "Bearer mine"})
    first, second = fakes["api"].records
    assert first.header("authorization") is None and first.header("x-api-key") is None
    assert second.header("x-api-key") is None and second.header("authorization") == "Bearer mine"


def test_upstream_cookies_are_not_kept_between_clients(gateway: Gateway, fakes: dict[str, FakeUpstream]) -> None:
    async def set_cookie(request: web.Request, record: Received) -> web.StreamResponse:
        response = web.json_response({"account": {"email_address": "a", "memberships": []}})
        response.headers["Set-Cookie"] = "upstream_session=leak; Path=/"
        return response

    fakes["claude_ai"].script("/api/bootstrap", set_cookie)
    httpx.get(gateway.url + "/api/bootstrap", headers={"Cookie": "sessionKey=alice"})
    httpx.get(gateway.url + "/api/bootstrap")
    alice, bob = fakes["claude_ai"].records
    assert alice.header("cookie") == "sessionKey=alice"
    assert bob.header("cookie") is None


def test_upstream_errors_come_back_as_they_are(gateway: Gateway, fakes: dict[str, FakeUpstream]) -> None:
    body = b'{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}'

    async def limited(request: web.Request, record: Received) -> web.StreamResponse:
        return web.Response(body=body, status=429, headers={"retry-after": "7", "content-type": "application/json"})

    fakes["api"].script("/api/oauth/usage", limited)
    response = httpx.get(gateway.url + "/api/oauth/usage")
    assert response.status_code == 429 and response.content == body and response.headers["retry-after"] == "7"


def test_redirects_are_returned_not_followed(gateway: Gateway, fakes: dict[str, FakeUpstream]) -> None:
    async def redirect(request: web.Request, record: Received) -> web.StreamResponse:
        return web.Response(status=302, headers={"Location": fakes["evil"].url + "/api/oauth/profile"})

    fakes["api"].script("/api/oauth/profile", redirect)
    response = httpx.get(gateway.url + "/api/oauth/profile", follow_redirects=False)
    assert response.status_code == 302 and response.headers["location"].startswith(fakes["evil"].url)
    assert fakes["evil"].records == []


# --- streaming ----------------------------------------------------------------------------------------------------

CHUNKS = 5
GAP = 0.3


def test_response_is_streamed_not_buffered(gateway: Gateway, fakes: dict[str, FakeUpstream]) -> None:
    sent_at: list[float] = []

    async def trickle(request: web.Request, record: Received) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "application/json"})
        await response.prepare(request)
        for i in range(CHUNKS):
            sent_at.append(time.monotonic())
            await response.write(f'{{"chunk":{i}}}\n'.encode())
            await asyncio.sleep(GAP)
        await response.write_eof()
        return response

    fakes["api"].script("/api/claude_cli/bootstrap", trickle)
    arrived: list[tuple[float, bytes]] = []
    with httpx.stream("GET", gateway.url + "/api/claude_cli/bootstrap") as response:
        for chunk in response.iter_raw():
            arrived.append((time.monotonic(), chunk))
    assert b"".join(c for _t, c in arrived) == b"".join(f'{{"chunk":{i}}}\n'.encode() for i in range(CHUNKS))
    # the first chunk reached the client before the upstream had written the last one
    assert arrived[0][0] < sent_at[-1]
    assert len(arrived) >= CHUNKS - 1
    assert arrived[-1][0] - arrived[0][0] >= GAP * (CHUNKS - 2)


def test_request_body_is_streamed_not_buffered(gateway: Gateway, fakes: dict[str, FakeUpstream]) -> None:
    client_sent: list[float] = []

    def body() -> Iterator[bytes]:
        for i in range(CHUNKS):
            client_sent.append(time.monotonic())
            yield f"part-{i};".encode()
            time.sleep(GAP)

    # create_api_key has no JSON body in the contract, so the validation layer does not read it: a pure stream
    response = httpx.post(
        gateway.url + "/api/oauth/claude_cli/create_api_key",
        content=body(),
        headers={"content-type": "application/octet-stream"},
    )
    assert response.status_code == 200
    (record,) = fakes["api"].records
    assert record.body == b"".join(f"part-{i};".encode() for i in range(CHUNKS))
    assert record.header("transfer-encoding") == "chunked"
    assert record.chunk_times[0] < client_sent[-1], "the upstream saw nothing before the client had sent everything"
    assert len(record.chunk_times) >= CHUNKS - 1


def test_sse_events_are_relayed_as_they_come(gateway: Gateway, fakes: dict[str, FakeUpstream]) -> None:
    events = [f"event: ping\ndata: {json.dumps({'n': i})}\n\n".encode() for i in range(CHUNKS)]
    sent_at: list[float] = []

    async def sse(request: web.Request, record: Received) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "text/event-stream", "cache-control": "no-cache"})
        await response.prepare(request)
        for event in events:
            sent_at.append(time.monotonic())
            await response.write(event)
            await asyncio.sleep(GAP)
        await response.write_eof()
        return response

    fakes["api"].script("/api/oauth/usage", sse)
    arrived: list[float] = []
    data = b""
    with httpx.stream("GET", gateway.url + "/api/oauth/usage") as response:
        assert response.headers["content-type"] == "text/event-stream"
        for chunk in response.iter_raw():
            data += chunk
            while data.count(b"\n\n") > len(arrived):
                arrived.append(time.monotonic())
    assert data == b"".join(events)
    for i in range(CHUNKS - 1):  # event i arrived before event i+1 was even written
        assert arrived[i] < sent_at[i + 1]


def test_sse_failure_mid_stream_becomes_an_error_event(gateway: Gateway, fakes: dict[str, FakeUpstream]) -> None:
    async def broken(request: web.Request, record: Received) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b"event: ping\ndata: {}\n\n")
        await asyncio.sleep(0.1)
        assert request.transport is not None
        request.transport.close()  # no terminating chunk: the upstream vanished
        return response

    fakes["api"].script("/api/oauth/usage", broken)
    with httpx.stream("GET", gateway.url + "/api/oauth/usage") as response:
        data = b"".join(response.iter_raw())
    first, second = data.split(b"\n\n", 1)
    assert first == b"event: ping\ndata: {}"
    assert second.startswith(b"event: error\ndata: ")
    error = json.loads(second.split(b"data: ", 1)[1])
    assert error["type"] == "error" and error["error"]["type"] == "api_error"


def test_other_bodies_failing_mid_response_are_cut_short(gateway: Gateway, fakes: dict[str, FakeUpstream]) -> None:
    async def broken(request: web.Request, record: Received) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "application/json"})
        response.content_length = 1000
        await response.prepare(request)
        await response.write(b'{"partial":')
        await asyncio.sleep(0.1)
        assert request.transport is not None
        request.transport.close()
        return response

    fakes["api"].script("/api/oauth/claude_cli/roles", broken)
    with pytest.raises(httpx.RemoteProtocolError):  # never a silently short body that looks complete
        with httpx.stream("GET", gateway.url + "/api/oauth/claude_cli/roles") as response:
            assert response.headers["content-length"] == "1000"
            b"".join(response.iter_raw())


# --- failures -----------------------------------------------------------------------------------------------------


def test_upstream_down_is_a_502_envelope(gateway: Gateway, fakes: dict[str, FakeUpstream], down_url: str) -> None:
    message = envelope(httpx.get(gateway.url + "/api/oauth/account/settings"), 502, "api_error")
    assert down_url.split("//")[1] in message
    envelope(httpx.patch(gateway.url + "/api/oauth/account/settings", json={"grove_enabled": False}), 502, "api_error")


def test_slow_upstream_is_a_504_after_the_configured_timeout(gateway: Gateway, fakes: dict[str, FakeUpstream]) -> None:
    async def slow(request: web.Request, record: Received) -> web.StreamResponse:
        await asyncio.sleep(READ_TIMEOUT + 2)
        return web.json_response({})

    fakes["api"].script("/api/oauth/claude_cli/roles", slow)
    started = time.monotonic()
    response = httpx.get(gateway.url + "/api/oauth/claude_cli/roles", timeout=10)
    elapsed = time.monotonic() - started
    envelope(response, 504, "timeout_error")
    assert READ_TIMEOUT - 0.1 <= elapsed < READ_TIMEOUT + 1.5


# --- SSRF ---------------------------------------------------------------------------------------------------------


def raw_request(gateway: Gateway, request_line: str, host: str) -> bytes:
    port = int(gateway.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(f"{request_line}\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        chunks = []
        while data := sock.recv(65536):
            chunks.append(data)
    return b"".join(chunks)


def test_nothing_in_the_request_can_choose_the_upstream(gateway: Gateway, fakes: dict[str, FakeUpstream]) -> None:
    evil = fakes["evil"]
    evil_host = f"127.0.0.1:{evil.port}"
    attempts = [
        f"GET {evil.url}/api/oauth/profile HTTP/1.1",  # absolute-form target
        f"GET //{evil_host}/api/oauth/profile HTTP/1.1",  # scheme-relative path
        f"GET /api/oauth/organizations/x%2F..%2F..%2F{evil_host}/overage_credit_grant HTTP/1.1",  # encoded slashes
        "GET /api/oauth/organizations/%2E%2E/overage_credit_grant HTTP/1.1",  # encoded dot segment
        "GET /api/oauth/organizations/../../../v1/overage_credit_grant HTTP/1.1",
        f"GET /api/oauth/profile?next={evil.url}/x&url=//{evil_host} HTTP/1.1",  # URLs in the query
        f"GET /api/oauth/profile@{evil_host} HTTP/1.1",
    ]
    statuses = []
    for line in attempts:
        answer = raw_request(gateway, line, evil_host)
        statuses.append(answer.split(b"\r\n", 1)[0])
    for headers in ({"Host": evil_host}, {"X-Forwarded-Host": evil_host, "Forwarded": f"host={evil_host}"}):
        httpx.get(gateway.url + "/api/oauth/profile", headers=headers)
    assert evil.records == [], statuses
    api_host = f"127.0.0.1:{fakes['api'].port}"
    assert all(r.header("host") == api_host for r in fakes["api"].records)
    for record in fakes["api"].records:  # whatever reached the real upstream is a path on that upstream
        assert record.target.startswith("/api/"), record.target
        assert ".." not in record.target and "%2e" not in record.target.lower()
    assert any(r.target == f"/api/oauth/profile?next={evil.url}/x&url=//{evil_host}" for r in fakes["api"].records)


# --- the voice WebSocket --------------------------------------------------------------------------------------------

VOICE_QUERY = (
    "encoding=linear16&sample_rate=16000&channels=1&endpointing_ms=300&utterance_end_ms=1000&language=en"
    "&use_conversation_engine=true&stt_provider=deepgram-nova3&keyterms=gateway&keyterms=LiteLLM"
)


def ws_url(gateway: Gateway, query: str = VOICE_QUERY) -> str:
    return gateway.url.replace("http://", "ws://") + "/api/ws/speech_to_text/voice_stream?" + query


def test_voice_websocket_relays_frames_and_close(gateway: Gateway, fakes: dict[str, FakeUpstream]) -> None:
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    audio = [bytes([i]) * 3200 for i in range(3)]
    with connect(
        ws_url(gateway),
        additional_headers={"Authorization": "Bearer sk-ant-oat01-voice", "x-app": "cli", "x-api-key": GATEWAY_KEY},
        subprotocols=["stt.v1"],  # type: ignore[list-item]
        user_agent_header="claude-cli/2.1.126 (external, cli)",
    ) as ws:
        assert ws.subprotocol == "stt.v1"
        ws.send(json.dumps({"type": "KeepAlive"}))
        transcripts = []
        for frame in audio:
            ws.send(frame)
            transcripts.append(json.loads(ws.recv(timeout=5)))
        ws.send(json.dumps({"type": "CloseStream"}))
        assert json.loads(ws.recv(timeout=5)) == {"type": "TranscriptEndpoint"}
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=5)
        assert ws.close_code == 4005 and ws.close_reason == "finalized"
    assert transcripts == [{"type": "TranscriptText", "data": f"{3200 * (i + 1)} bytes"} for i in range(3)]
    (record,) = fakes["api"].records
    assert record.target == "/api/ws/speech_to_text/voice_stream?" + VOICE_QUERY
    assert record.header("authorization") == "Bearer sk-ant-oat01-voice" and record.header("x-app") == "cli"
    assert record.header("user-agent") == "claude-cli/2.1.126 (external, cli)"
    assert record.header("x-api-key") is None
    assert [f for f in record.ws_frames if f[0] == "binary"] == [("binary", 3200)] * 3


def test_voice_client_close_reaches_the_upstream(gateway: Gateway, fakes: dict[str, FakeUpstream]) -> None:
    from websockets.sync.client import connect

    with connect(ws_url(gateway)) as ws:
        ws.send(b"\x00" * 320)
        ws.recv(timeout=5)
        ws.close(code=4321, reason="bye")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not (fakes["api"].records and fakes["api"].records[0].ws_close_code):
        time.sleep(0.02)
    assert fakes["api"].records[0].ws_close_code == 4321


def test_voice_upgrade_refusal_is_propagated(gateway: Gateway, fakes: dict[str, FakeUpstream]) -> None:
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    with pytest.raises(InvalidStatus) as refused:
        connect(ws_url(gateway, "reject=1"))
    assert refused.value.response.status_code == 401


def test_many_concurrent_requests_share_the_pool(gateway: Gateway, fakes: dict[str, FakeUpstream]) -> None:
    results: list[int] = []

    def call() -> None:
        results.append(httpx.get(gateway.url + "/api/oauth/profile", timeout=10).status_code)

    threads = [threading.Thread(target=call) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200] * 20 and len(fakes["api"].records) == 20
