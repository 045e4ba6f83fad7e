"""MCP toolsets end to end: a real MCP server (the ``mcp`` package's MCPServer over streamable HTTP on 127.0.0.1, in
a subprocess, demanding a bearer token), a real gateway process at debug log level, the scripted fake model and the
SDK. The token reaches the server only from a vault credential of the session; it never appears in the stored
events, the event API's answers, the database file or the gateway's log."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import pytest

from bench.fakes import AnthropicFake, Behavior, Text, ToolUse
from bench.fakes.mcp_server import McpFake
from gateway.runtime.guard import address_refusal
from gateway.runtime.mcp.toolsets import networking_refusal
from tests.gateway_process import debug_gateway
from tests.runtime.conftest import KEY, Gateway, write_config
from tests.runtime.test_scenarios import _say

SECRET = "mcp-secret-7f3a9c1e5b2d4680"
MCP_RUNTIME = {"egress_allowed_networks": ["127.0.0.0/8"], "mcp_timeout_s": 3}


@pytest.fixture
def mcp_server() -> Iterator[McpFake]:
    with McpFake(token=SECRET) as server:
        yield server


@pytest.fixture
def mcp_gateway(sqlite: dict[str, Any], tmp_path: Path) -> Iterator[Gateway]:
    with AnthropicFake(name="session-model") as fake:
        config = write_config(tmp_path, fake, sqlite, {**MCP_RUNTIME, "cloud_executor": "none"})
        with debug_gateway(config, tmp_path / "gateway.log") as url:
            client = anthropic.Anthropic(base_url=url, api_key=KEY, max_retries=0, _strict_response_validation=True)
            yield Gateway(url, fake, None, client, tmp_path, config)  # type: ignore[arg-type]


def _session(
    gw: Gateway, servers: dict[str, str], toolsets: list[dict[str, Any]], networking: dict[str, Any], vaults: list[str]
) -> str:
    env = gw.sdk.beta.environments.create(
        name=f"mcp-{time.monotonic_ns()}",
        config={"type": "cloud", "networking": networking},  # type: ignore[typeddict-item]
    )
    agent = gw.sdk.beta.agents.create(
        name="mcp-user",
        model="claude-haiku-5-5",
        mcp_servers=[{"type": "url", "name": name, "url": url} for name, url in servers.items()],
        tools=toolsets,  # type: ignore[arg-type]
    )
    return gw.sdk.beta.sessions.create(agent=agent.id, environment_id=env.id, vault_ids=vaults).id


def _vault(gw: Gateway, url: str, token: str) -> str:
    vault = gw.sdk.beta.vaults.create(display_name="mcp")
    auth = {"type": "static_bearer", "mcp_server_url": url, "token": token}
    gw.sdk.beta.vaults.credentials.create(vault.id, auth=auth)  # type: ignore[arg-type]
    return vault.id


def _text(event: Any) -> str:
    return "".join(getattr(block, "text", "") for block in event.content or [])


def _offered(gw: Gateway, request: int) -> set[str]:
    return {t["name"] for t in gw.fake.requests[request].json.get("tools") or []}


def test_mcp_tools_are_offered_and_called_with_the_vault_credential_and_the_secret_stays_out(
    mcp_gateway: Gateway, mcp_server: McpFake
) -> None:
    gw = mcp_gateway
    vault = _vault(gw, mcp_server.url + "/", SECRET)  # a trailing slash still names the same server
    toolset = {
        "type": "mcp_toolset",
        "mcp_server_name": "tools",
        "configs": [
            {"name": "add", "permission_policy": {"type": "always_allow"}},
            {"name": "shout", "enabled": False},
        ],
    }
    session_id = _session(gw, {"tools": mcp_server.url}, [toolset], {"type": "unrestricted"}, [vault])
    gw.fake.script(
        Behavior(content=[ToolUse("add", {"a": 2, "b": 3})]),
        Behavior(content=[Text("now the other"), ToolUse("fail", {"reason": "on purpose"})]),
        Behavior(content=[Text("done")]),
    )
    _say(gw, session_id, "use the tools")
    events = gw.idle(session_id, reason="requires_action")
    assert _offered(gw, 0) == {"add", "fail"}  # listed from the server, minus the disabled one
    schema = next(t for t in gw.fake.requests[0].json["tools"] if t["name"] == "add")["input_schema"]
    assert schema["required"] == ["a", "b"]
    uses = [e for e in events if e.type == "agent.mcp_tool_use"]
    assert [(u.name, u.mcp_server_name, u.evaluated_permission) for u in uses] == [
        ("add", "tools", "allow"),
        ("fail", "tools", "ask"),  # an mcp_toolset's default policy is always_ask
    ]
    results = [e for e in events if e.type == "agent.mcp_tool_result"]
    assert [(r.mcp_tool_use_id, _text(r), r.is_error) for r in results] == [(uses[0].id, "5", False)]
    assert not any(e.type in ("agent.tool_use", "agent.tool_result", "session.error") for e in events)

    gw.sdk.beta.sessions.events.send(
        session_id, events=[{"type": "user.tool_confirmation", "tool_use_id": uses[1].id, "result": "allow"}]
    )
    events = gw.idle(session_id)
    results = [e for e in events if e.type == "agent.mcp_tool_result"]
    assert len(results) == 2 and results[1].mcp_tool_use_id == uses[1].id and results[1].is_error is True
    assert "fail" in _text(results[1])
    # the model read each result as the tool_result of its own tool_use
    first = gw.fake.requests[1].json["messages"][-1]["content"][0]
    assert first["type"] == "tool_result" and first["content"] == [{"type": "text", "text": "5"}]
    second = gw.fake.requests[2].json["messages"][-1]["content"][0]
    assert second["type"] == "tool_result" and second["is_error"] is True
    assert gw.fake.pending == 0

    raw = httpx.get(
        f"{gw.url}/v1/sessions/{session_id}/events", headers={"Authorization": f"Bearer {KEY}"}, params={"limit": 1000}
    )
    assert raw.status_code == 200 and "agent.mcp_tool_result" in raw.text
    assert SECRET not in raw.text and "_mcp_url" not in raw.text  # the runtime's annotations stay private
    stored = b"".join(p.read_bytes() for p in gw.tmp.glob("gateway.db*"))  # the database and its WAL
    assert b"agent.mcp_tool_result" in stored and SECRET.encode() not in stored
    log = (gw.tmp / "gateway.log").read_text(errors="replace")
    assert "DEBUG" in log.upper() and SECRET not in log


def _silent_listener() -> tuple[socket.socket, str]:
    """A server that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(listener.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    return listener, f"http://127.0.0.1:{listener.getsockname()[1]}/mcp"


def _closed_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/mcp"


def test_missing_wrong_or_unreachable_servers_are_readable_errors_and_the_turn_goes_on(
    mcp_gateway: Gateway, mcp_server: McpFake
) -> None:
    gw = mcp_gateway
    listener, silent = _silent_listener()
    servers = {"nocred": mcp_server.url, "down": _closed_port(), "silent": silent}
    toolsets = [{"type": "mcp_toolset", "mcp_server_name": name} for name in servers]
    networking = {"type": "limited", "allowed_hosts": [], "allow_mcp_servers": True}
    try:
        session_id = _session(gw, servers, toolsets, networking, [])
        # two model requests in the turn (an unknown tool's error result in between): the failed servers are
        # reported and waited for once in the turn, not before every request
        gw.fake.script(Behavior(content=[ToolUse("missing", {})]), Behavior(content=[Text("no tools today")]))
        started = time.monotonic()
        _say(gw, session_id, "hello")
        events = gw.idle(session_id, timeout=40)
        assert time.monotonic() - started < 30  # the silent server costs mcp_timeout_s (3 s), not a hang
    finally:
        listener.close()
    reported = [e.error for e in events if e.type == "session.error"]
    errors = {error.mcp_server_name: error for error in reported}
    assert set(errors) == set(servers) and len(reported) == len(servers)
    assert errors["nocred"].type == "mcp_authentication_failed_error"
    assert "refused the credentials (HTTP 401)" in errors["nocred"].message
    assert errors["down"].type == "mcp_connection_failed_error" and "could not reach" in errors["down"].message
    assert errors["silent"].type == "mcp_connection_failed_error" and "within 3s" in errors["silent"].message
    assert _offered(gw, 0) == _offered(gw, 1) == set()  # the model was asked anyway, without the servers' tools
    assert [e.type for e in events][-1] == "session.status_idle"

    # a wrong token in the vault: the same readable refusal, and the token is not in it
    wrong = "wrong-token-0000"
    vault = _vault(gw, mcp_server.url, wrong)
    toolset = [{"type": "mcp_toolset", "mcp_server_name": "tools"}]
    session_id = _session(gw, {"tools": mcp_server.url}, toolset, networking, [vault])
    gw.fake.script(Behavior(content=[Text("still no tools")]))
    _say(gw, session_id, "hello")
    events = gw.idle(session_id)
    error = next(e.error for e in events if e.type == "session.error")
    assert error.type == "mcp_authentication_failed_error" and wrong not in error.message

    # limited networking without allow_mcp_servers keeps the gateway from the server
    blocked = {"type": "limited", "allowed_hosts": ["example.com"]}
    session_id = _session(gw, {"tools": mcp_server.url}, toolset, blocked, [vault])
    gw.fake.script(Behavior(content=[Text("blocked")]))
    _say(gw, session_id, "hello")
    events = gw.idle(session_id)
    error = next(e.error for e in events if e.type == "session.error")
    assert error.type == "mcp_connection_failed_error" and "allow_mcp_servers" in error.message
    assert gw.fake.pending == 0


def test_the_address_guard_and_the_networking_policy() -> None:
    url = "http://127.0.0.1:9/mcp"
    refusal = asyncio.run(address_refusal(url, []))
    assert refusal is not None and "runtime.egress_allowed_networks" in refusal
    assert asyncio.run(address_refusal(url, [ipaddress.ip_network("127.0.0.0/8")])) is None
    assert asyncio.run(address_refusal("file:///etc/passwd", [])) is not None
    limited = {"config": {"networking": {"type": "limited", "allowed_hosts": ["mcp.example.com"]}}}
    assert networking_refusal(limited, "https://mcp.example.com/mcp") is None
    assert networking_refusal(limited, "https://other.example.com/mcp") is not None
    assert networking_refusal({"config": {"networking": {"type": "unrestricted"}}}, url) is None
