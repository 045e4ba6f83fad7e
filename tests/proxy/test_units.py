"""Units of the pass-through: config validation, header hygiene, request targets, the sink, the accounting."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gateway.errors import InvalidRequest
from gateway.proxy.accounting import RequestAccounting
from gateway.proxy.config import SinkConfig, Upstream, parse_proxy_config
from gateway.proxy.event_sink import EventSink
from gateway.proxy.forward import request_target, upstream_url
from gateway.proxy.headers import client_response_headers, upstream_request_headers
from gateway.settings import ConfigError, settings_from_mapping

REPO = Path(__file__).resolve().parents[2]


def parse(section: Any, **other: Any) -> Any:
    return parse_proxy_config(settings_from_mapping({"passthrough": section, **other}), environ={"EGRESS": "https://e"})


# --- config ---------------------------------------------------------------------------------------------------------


def test_defaults_are_local_with_anthropic_hosts() -> None:
    config = parse_proxy_config(settings_from_mapping({}))
    assert {c.mode for c in config.categories.values()} == {"local"}
    assert config.hosts() == ["https://api.anthropic.com", "https://claude.ai", "https://platform.claude.com"]
    assert config.upstream_for("oauth", "platform").host == "platform.claude.com"
    assert config.sink.path is None and config.local.data_dir is None
    assert config.category("oauth").timeouts.connect == 10 and config.category("oauth").timeouts.read == 120


def test_modes_hosts_and_timeouts_per_category(tmp_path: Path) -> None:
    config = parse(
        {
            "mode": "passthrough",
            "upstreams": {"api": "https://egress.example:8443/anthropic/"},
            "timeouts": {"read": 30},
            "categories": {
                "oauth": {"upstream": "os.environ/EGRESS", "timeouts": {"connect": 1}},
                "event_logging": {"mode": "keep", "sink": {"path": "events.jsonl", "max_bytes": "1 MiB", "backups": 0}},
                "voice": {"mode": "local"},
            },
            "local": {"data_dir": str(tmp_path)},
        }
    )
    api = config.upstream_for("bootstrap", "api")
    assert (api.scheme, api.host, api.port, api.base_path) == ("https", "egress.example", 8443, "/anthropic")
    assert str(config.upstream_for("oauth", "platform")) == "https://e"  # the category override wins for every op
    assert config.category("oauth").timeouts.connect == 1 and config.category("oauth").timeouts.read == 30
    assert config.category("event_logging").mode == "local" and config.category("voice").mode == "local"
    assert config.category("bootstrap").mode == "passthrough"
    assert config.sink.max_bytes == 1024 * 1024 and config.sink.backups == 0
    assert config.sink.path is not None and config.sink.path.name == "events.jsonl"


@pytest.mark.parametrize(
    ("section", "field"),
    [
        ({"mode": "proxy"}, "passthrough.mode"),
        ({"surprise": 1}, "passthrough.surprise"),
        ({"upstreams": {"api": "ftp://x"}}, "passthrough.upstreams.api"),
        ({"upstreams": {"api": "https://user:pw@x"}}, "passthrough.upstreams.api"),
        ({"upstreams": {"api": "https://x/?q=1"}}, "passthrough.upstreams.api"),
        ({"upstreams": {"evil": "https://x"}}, "passthrough.upstreams.evil"),
        ({"timeouts": {"read": 0}}, "passthrough.timeouts.read"),
        ({"categories": {"chat": {}}}, "passthrough.categories.chat"),
        ({"categories": {"oauth": {"mode": "keep"}}}, "passthrough.categories.oauth.mode"),
        ({"categories": {"oauth": {"sink": {}}}}, "passthrough.categories.oauth.sink"),
        ({"categories": {"event_logging": {"sink": {"max_bytes": -1}}}}, "passthrough.categories.event_logging.sink"),
        ({"categories": {"voice": {"upstream": "os.environ/NOPE"}}}, "passthrough.categories.voice.upstream"),
        ({"local": {"account": {"email": ""}}}, "passthrough.local.account.email"),
        ({"local": {"account": {"created_at": "yesterday"}}}, "passthrough.local.account.created_at"),
        ({"local": {"organization": {"capabilities": "chat"}}}, "passthrough.local.organization.capabilities"),
        ({"local": {"usage": {"limits": {"monthly": 3}}}}, "passthrough.local.usage.limits.monthly"),
        ({"local": {"usage": {"limits": {"five_hour": 0}}}}, "passthrough.local.usage.limits.five_hour"),
        ({"local": {"mcp_servers": [{"display_name": "x"}]}}, "passthrough.local.mcp_servers[0].url"),
        ({"local": {"mcp_servers": [{"display_name": "x", "url": "file:///etc"}]}}, "passthrough.local.mcp_servers[0]"),
        ("yes", "passthrough"),
    ],
)
def test_config_errors_name_the_field(section: Any, field: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse(section)
    assert str(error.value).startswith(field), str(error.value)


def test_check_config_validates_the_section(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("passthrough:\n  categories:\n    oauth: {mode: sometimes}\n")
    good = tmp_path / "good.yaml"
    good.write_text("passthrough:\n  mode: passthrough\n  categories:\n    event_logging: {mode: keep}\n")
    cli = [sys.executable, "-m", "gateway.cli", "check-config", "--config"]
    failed = subprocess.run([*cli, str(bad)], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert failed.returncode == 2 and "passthrough.categories.oauth.mode" in failed.stderr
    passed = subprocess.run([*cli, str(good)], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert passed.returncode == 0, passed.stderr
    assert "event_logging=local" in passed.stdout and "oauth=passthrough" in passed.stdout


# --- headers and targets ------------------------------------------------------------------------------------------


def test_request_headers_drop_hop_by_hop_cookies_and_gateway_keys() -> None:
    raw = [
        (b"Host", b"evil"),
        (b"Connection", b"close, X-Named"),
        (b"X-Named", b"1"),
        (b"Transfer-Encoding", b"chunked"),
        (b"Expect", b"100-continue"),
        (b"Cookie", b"a=b"),
        (b"Authorization", b"Bearer gw-key"),
        (b"x-api-key", b"client-key"),
        (b"X-Kept", b"yes"),
    ]
    out = upstream_request_headers(raw, forward_cookies=False, is_gateway_key=lambda t: t == "gw-key")
    assert out == [(b"x-api-key", b"client-key"), (b"X-Kept", b"yes")]
    with_cookies = upstream_request_headers(raw, forward_cookies=True, is_gateway_key=lambda t: False)
    assert (b"Cookie", b"a=b") in with_cookies and (b"Authorization", b"Bearer gw-key") in with_cookies


def test_response_headers_keep_duplicates_and_rename_the_request_id() -> None:
    raw = [
        (b"Set-Cookie", b"a=1"),
        (b"Set-Cookie", b"b=2"),
        (b"Date", b"then"),
        (b"Transfer-Encoding", b"chunked"),
        (b"request-id", b"req_up"),
        (b"Connection", b"X-Gone"),
        (b"X-Gone", b"1"),
    ]
    assert client_response_headers(raw) == [
        (b"set-cookie", b"a=1"),
        (b"set-cookie", b"b=2"),
        (b"upstream-request-id", b"req_up"),
    ]


def scope(path: str, raw: bytes | None = None, query: bytes = b"") -> dict[str, Any]:
    return {"path": path, "raw_path": raw if raw is not None else path.encode(), "query_string": query}


def test_request_targets_keep_the_client_encoding_and_refuse_tricks() -> None:
    assert request_target(scope("/a b/c", b"/a%20b/c", b"x=%2F&y=1")) == ("/a%20b/c", "x=%2F&y=1")
    # a raw path that does not mean the routed path is ignored
    assert request_target(scope("/api/x", b"http://evil/api/x")) == ("/api/x", "")
    assert request_target(scope("/api/é", "/api/é".encode())) == ("/api/%C3%A9", "")
    for bad in ("//evil/x", "/api/../x", "/api/./x", "/api\\x", "api"):
        with pytest.raises(InvalidRequest):
            request_target(scope(bad))
    up = Upstream(scheme="https", host="api.anthropic.com", port=None, base_path="/base")
    url = upstream_url(up, "/v1/%2Fx", "q=a%20b")
    assert str(url) == "https://api.anthropic.com/base/v1/%2Fx?q=a%20b"
    assert str(upstream_url(up, "/voice", "", websocket=True)) == "wss://api.anthropic.com/base/voice"


# --- sink and accounting ------------------------------------------------------------------------------------------


def files(directory: Path) -> dict[str, int]:
    return {p.name: p.stat().st_size for p in directory.iterdir()}


async def test_sink_rotates_and_keeps_backups(tmp_path: Path) -> None:
    sink = EventSink(SinkConfig(path=tmp_path / "e.jsonl", max_bytes=200, backups=2))
    for i in range(12):
        await sink.keep([{"n": i}], request_id=f"r{i}", endpoint="/e")
    sizes = files(tmp_path)
    assert sorted(sizes) == ["e.jsonl", "e.jsonl.1", "e.jsonl.2"]
    assert all(size <= 200 for size in sizes.values())
    assert sink.kept == 12


async def test_sink_without_a_path_counts_and_drops() -> None:
    sink = EventSink(SinkConfig(path=None))
    assert await sink.keep([{}, {}], request_id=None, endpoint="/e") == 2
    assert sink.stats() == {"path": None, "kept": 0, "dropped": 2}


def test_accounting_windows_expire() -> None:
    now = [1_000_000.0]
    accounting = RequestAccounting(clock=lambda: now[0], prefix="handlers.")
    accounting.record("handlers.native.messages.create", 200)
    accounting.record("handlers.native.messages.create", 500)
    accounting.record("handlers.stub.oauth.hello", 200)
    assert accounting.window(3600, ["native.messages.create"]) == (1, 999960.0)
    now[0] += 2 * 3600
    assert accounting.window(3600, ["native.messages.create"]) == (0, None)
    assert accounting.window(7 * 86400, ["native.messages.create"])[0] == 1
    now[0] += 8 * 86400
    accounting.record("handlers.stub.oauth.hello", 200)
    assert len(accounting.buckets) == 1  # older than seven days: dropped
    assert accounting.by_operation() == {"native.messages.create": 2, "stub.oauth.hello": 2}
