"""``web_fetch`` and ``web_search`` answered by a real gateway process: the scripted fake model calls them, a real
HTTP server on 127.0.0.1 is the fetched site (allowed by ``runtime.egress_allowed_networks: [127.0.0.1/32]``), and
the model reads each result (or the reason it was refused) in its next request."""

from __future__ import annotations

import http.server
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest
import yaml

from bench.fakes import AnthropicFake, Behavior, ServerBlock, Text, ToolUse
from tests.gateway_process import gateway_process
from tests.runtime.conftest import KEY, Gateway, local_http_server, write_config
from tests.runtime.test_scenarios import TOOLSET, _all_consumed, _say

PAGE = """<!doctype html><html><head><title>The  Site</title><style>body{color:red}</style>
<script>var secret = "not text";</script></head>
<body><h1>Welcome</h1><p>First <b>para</b>graph.</p><ul><li>one</li><li>two</li></ul>
<a href="/next">next page</a></body></html>"""


class _Site(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        port = self.server.server_address[1]
        routes: dict[str, tuple[int, str, bytes, dict[str, str]]] = {
            "/page": (200, "text/html; charset=utf-8", PAGE.encode(), {}),
            "/big": (200, "text/plain", b"y" * 50_000, {}),
            "/binary": (200, "application/octet-stream", b"\x00\x01", {}),
            "/hop": (302, "text/plain", b"", {"location": "/page"}),
            "/out": (302, "text/plain", b"", {"location": f"http://127.0.0.2:{port}/page"}),
        }
        status, kind, body, headers = routes.get(self.path, (404, "text/plain", b"nothing here", {}))
        self.send_response(status)
        self.send_header("content-type", kind)
        self.send_header("content-length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def site() -> Iterator[str]:
    with local_http_server(_Site) as port:
        yield f"http://127.0.0.1:{port}"


@pytest.fixture
def web_gateway(sqlite: dict[str, Any], tmp_path: Path) -> Iterator[Gateway]:
    """Loopback 127.0.0.1 allowed for web_fetch; ``claude-other*`` models route to a ``deepseek`` deployment (an
    Anthropic-wire backend without server search) on the same fake."""
    runtime = {"egress_allowed_networks": ["127.0.0.1/32"], "web_fetch_max_bytes": 20_000, "max_output_bytes": 600}
    with AnthropicFake(name="session-model") as fake:
        path = write_config(tmp_path, fake, sqlite, runtime)
        config = yaml.safe_load(path.read_text())
        other = {"model": "deepseek/deepseek-v4-pro", "api_base": f"{fake.url}/anthropic", "api_key": "up"}
        config["model_list"].append({"model_name": "other", "litellm_params": other})
        config["routing"]["rules"] = [{"model": "claude-other*", "group": "other"}]
        path.write_text(yaml.safe_dump(config))
        with gateway_process(path, {}) as (proc, url):
            client = anthropic.Anthropic(base_url=url, api_key=KEY, max_retries=0, _strict_response_validation=True)
            yield Gateway(url, fake, proc, client, tmp_path, path)


def _session(gw: Gateway, networking: dict[str, Any], model: str = "claude-haiku-5-5", tools: Any = None) -> str:
    config = {"type": "cloud", "networking": networking}
    env = gw.sdk.beta.environments.create(name=f"web-{time.monotonic_ns()}", config=config)  # type: ignore[arg-type]
    agent = gw.sdk.beta.agents.create(name="surfer", model=model, tools=tools or [TOOLSET])  # type: ignore[arg-type]
    return gw.sdk.beta.sessions.create(agent=agent.id, environment_id=env.id).id


def _results(gw: Gateway, session_id: str) -> list[tuple[str, bool, str]]:
    events = gw.events(session_id)
    names = {e.id: e.name for e in events if e.type == "agent.tool_use"}
    return [
        (names[e.tool_use_id], bool(e.is_error), "".join(getattr(b, "text", "") for b in e.content or []))
        for e in events
        if e.type == "agent.tool_result"
    ]


def _run(gw: Gateway, session_id: str, calls: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, bool, str]]:
    gw.fake.script(*[Behavior(content=[ToolUse(n, i)]) for n, i in calls], Behavior(content=[Text("done")]))
    _say(gw, session_id, "go")
    events = gw.idle(session_id, timeout=60)
    assert "session.error" not in [e.type for e in events]
    results = _results(gw, session_id)
    assert [name for name, _, _ in results] == [name for name, _ in calls]
    return results


def test_web_fetch_reads_pages_as_text_and_refuses_what_it_must(web_gateway: Gateway, site: str) -> None:
    gw = web_gateway
    session_id = _session(gw, {"type": "unrestricted"})
    calls = [
        ("web_fetch", {"url": f"{site}/hop"}),  # a redirect on an allowed host is followed
        ("web_fetch", {"url": f"{site}/big"}),
        ("web_fetch", {"url": f"{site}/missing"}),
        ("web_fetch", {"url": f"{site}/out"}),  # a redirect to a loopback address that is not allowed
        ("web_fetch", {"url": f"http://127.0.0.2:{site.rsplit(':', 1)[1]}/page"}),
        ("web_fetch", {"url": "http://169.254.169.254/latest/meta-data/"}),
        ("web_fetch", {"url": "http://10.1.2.3/"}),
        ("web_fetch", {"url": "file:///etc/passwd"}),
        ("web_fetch", {"url": f"{site}/binary"}),
        ("web_fetch", {"url": "http://127.0.0.1:99999/"}),
    ]
    results = _run(gw, session_id, calls)
    page = results[0]
    assert page[1] is False
    assert page[2] == (
        f"URL: {site}/page\nContent-Type: text/html; charset=utf-8\n\n"
        "# The Site\n\n# Welcome\n\nFirst paragraph.\n\n- one\n\n- two\n\nnext page (/next)"
    )
    big = results[1]
    assert big[1] is False and big[2].startswith(f"URL: {site}/big\nContent-Type: text/plain\n\nyyy")
    assert big[2].endswith(
        "\n[the page is larger than 20000 bytes; only its start was read]\n[content truncated: 19400 more characters]"
    )
    assert results[2] == ("web_fetch", True, f"web_fetch: {site}/missing answered HTTP 404 Not Found")
    for refused, address in ((results[3], "127.0.0.2"), (results[4], "127.0.0.2"), (results[5], "169.254.169.254")):
        assert refused[1] is True and f"resolves to {address}, an address the gateway does not fetch from" in refused[2]
    assert results[6][1] is True and "resolves to 10.1.2.3" in results[6][2]
    assert results[7] == (
        "web_fetch",
        True,
        "web_fetch: file:///etc/passwd: only http:// and https:// URLs can be fetched",
    )
    assert results[8][1] is True and "application/octet-stream, which web_fetch does not read" in results[8][2]
    assert results[9][1] is True and results[9][2].startswith("web_fetch: http://127.0.0.1:99999/: not a valid URL")
    # the model read each result in its next request
    for index, (_, _, text) in enumerate(results):
        last = gw.fake.requests[index + 1].json["messages"][-1]["content"]
        assert [c["text"] for b in last if b["type"] == "tool_result" for c in b["content"]] == [text]
    _all_consumed(gw, len(calls) + 1)


def test_web_fetch_follows_the_environments_networking(web_gateway: Gateway, site: str) -> None:
    gw = web_gateway
    limited = _session(gw, {"type": "limited", "allowed_hosts": ["example.com"]})
    assert _run(gw, limited, [("web_fetch", {"url": f"{site}/page"})]) == [
        ("web_fetch", True, "web_fetch: 127.0.0.1 is not in the environment's allowed_hosts (config.networking)")
    ]
    allowed = _session(gw, {"type": "limited", "allowed_hosts": ["127.0.0.1"]})
    [(_, is_error, text)] = _run(gw, allowed, [("web_fetch", {"url": f"{site}/page"})])
    assert not is_error and "# Welcome" in text
    blocked_tools = [
        {"type": "agent_toolset_20260401", "configs": [{"name": "web_fetch", "blocked_domains": ["127.0.0.1"]}]}
    ]
    blocked = _session(gw, {"type": "unrestricted"}, tools=blocked_tools)
    assert _run(gw, blocked, [("web_fetch", {"url": f"{site}/page"})]) == [
        ("web_fetch", True, "web_fetch: 127.0.0.1 is in the web_fetch tool's blocked_domains")
    ]
    # the tool config's allowed_domains (other hosts refused) and max_content_tokens (4 characters a token)
    config = {"name": "web_fetch", "allowed_domains": ["127.0.0.1"], "max_content_tokens": 5}
    small = _session(gw, {"type": "unrestricted"}, tools=[{"type": "agent_toolset_20260401", "configs": [config]}])
    assert _run(gw, small, [("web_fetch", {"url": f"{site}/big"}), ("web_fetch", {"url": "http://localhost/"})]) == [
        (
            "web_fetch",
            False,
            f"URL: {site}/big\nContent-Type: text/plain\n\n{'y' * 20}\n"
            "[the page is larger than 20000 bytes; only its start was read]\n"
            "[content truncated: 19980 more characters]",
        ),
        ("web_fetch", True, "web_fetch: localhost is not in the web_fetch tool's allowed_domains"),
    ]


def test_web_search_uses_the_backends_server_search_tool(web_gateway: Gateway) -> None:
    gw = web_gateway
    session_id = _session(gw, {"type": "unrestricted"})
    found = {
        "type": "web_search_tool_result",
        "tool_use_id": "srvtoolu_1",
        "content": [
            {"type": "web_search_result", "url": "https://a.example/x", "title": "A page", "encrypted_content": "e"},
            {"type": "web_search_result", "url": "https://b.example/", "title": "B", "page_age": "2 days ago"},
        ],
    }
    use = {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {"query": "gateways"}}
    gw.fake.script(
        Behavior(content=[ToolUse("web_search", {"query": "gateways"})]),
        Behavior(content=[ServerBlock(use), ServerBlock(found), Text("Two results.")]),  # the search request
        Behavior(content=[Text("done")]),
    )
    _say(gw, session_id, "search")
    gw.idle(session_id, timeout=60)
    assert _results(gw, session_id) == [
        (
            "web_search",
            False,
            "- A page\n  https://a.example/x\n- B (2 days ago)\n  https://b.example/\n\nTwo results.",
        )
    ]
    search = gw.fake.requests[1].json
    assert search["tools"] == [{"type": "web_search_20250305", "name": "web_search", "max_uses": 1}]
    assert search["messages"] == [{"role": "user", "content": "Search the web for: gateways"}]
    assert search.get("stream") is False
    _all_consumed(gw, 3)


def test_web_search_without_a_search_backend_is_an_error_the_model_reads(web_gateway: Gateway) -> None:
    gw = web_gateway
    session_id = _session(gw, {"type": "unrestricted"}, model="claude-other-1")
    results = _run(gw, session_id, [("web_search", {"query": "anything"})])
    assert results == [
        (
            "web_search",
            True,
            "web_search is not available: the model group 'other' is served by deepseek deployments, which offer no "
            "server web search tool (only anthropic deployments do)",
        )
    ]
    offered = {t["name"] for t in gw.fake.requests[0].json["tools"]}
    assert offered == {"bash", "read", "write", "edit", "glob", "grep", "web_fetch", "web_search"}
    _all_consumed(gw, 2)  # no search request was made


def test_server_tools_run_on_self_hosted_environments_without_a_worker(web_gateway: Gateway, site: str) -> None:
    """web_fetch (any public or allowed host: a self-hosted environment has no networking config) and the memory
    tool are answered by the gateway; nothing waits for the worker."""
    gw = web_gateway
    notes = gw.sdk.beta.memory_stores.create(name="notes")
    env = gw.sdk.beta.environments.create(name=f"sh-{time.monotonic_ns()}", config={"type": "self_hosted"})
    agent = gw.sdk.beta.agents.create(name="surfer", model="claude-haiku-5-5", tools=[TOOLSET])
    resources: Any = [{"type": "memory_store", "memory_store_id": notes.id}]
    session_id = gw.sdk.beta.sessions.create(agent=agent.id, environment_id=env.id, resources=resources).id
    write = {"command": "create", "path": "/memories/notes/site.md", "file_text": "seen"}
    results = _run(gw, session_id, [("web_fetch", {"url": f"{site}/page"}), ("memory", write)])
    assert results[0][1] is False and "# Welcome" in results[0][2]
    assert results[1] == ("memory", False, "File created successfully at: /memories/notes/site.md")
    assert [m.path for m in gw.sdk.beta.memory_stores.memories.list(notes.id)] == ["/site.md"]
    assert "requires_action" not in [
        e.stop_reason.type for e in gw.events(session_id) if e.type == "session.status_idle"
    ]
