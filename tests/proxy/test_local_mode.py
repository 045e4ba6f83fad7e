"""Local mode: the gateway answers the proxy and stub operations itself, from config and its own state (httpx)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient, WebSocketDenialResponse

from gateway.app import create_app
from gateway.proxy.accounting import RequestAccounting
from gateway.proxy.config import local_uuid, parse_proxy_config
from gateway.proxy.event_sink import EventSink
from gateway.proxy.local import LocalAnswers
from gateway.proxy.store import LocalStore
from gateway.settings import settings_from_mapping

KEY = "sk-gw-localmode-0123456789abcdef"
ACCOUNT = "0b7a5c1e-8d2f-4f3a-9e6b-1c2d3e4f5a6b"
ORG = "7e6d5c4b-3a29-4817-a6b5-c4d3e2f1a0b9"

Make = Callable[..., TestClient]
MODEL_LIST = [
    {
        "model_name": "deepseek",
        "litellm_params": {"model": "deepseek/deepseek-v4-pro", "input_cost_per_token": 0.0000005},
        "model_info": {"output_cost_per_token": 0.000002},
    },
    {"model_name": "claude", "litellm_params": {"model": "anthropic/*"}},
    {"model_name": "claude", "litellm_params": {"model": "anthropic/claude-opus-5-5"}},
]
MCP_SERVERS = [
    {"display_name": "Linear", "url": "https://mcp.linear.app/mcp", "created_at": "2026-09-04T12:30:00Z"},
    {"display_name": "Docs", "url": "http://localhost:4000/docs/mcp", "id": "mcprs_docs"},
    {"display_name": "Wiki", "url": "http://localhost:4000/wiki/mcp"},
]


@pytest.fixture(scope="module")
def make(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Make]:
    """Apps are costly to build (~1 s each): tests share the few configurations below."""
    opened: list[TestClient] = []
    base_dir = tmp_path_factory.mktemp("local-mode")

    def build(passthrough: dict[str, Any] | None = None, *, keys: bool = False, **other: Any) -> TestClient:
        doc: dict[str, Any] = {"gateway": {"validate_responses": True}, **other}
        if keys:
            doc["gateway"]["api_keys"] = [{"key": KEY, "name": "local", "workspace": "default"}]
        if passthrough is not None:
            doc["passthrough"] = passthrough
        client = TestClient(create_app(settings_from_mapping(doc, base_dir=base_dir)))
        client.__enter__()
        opened.append(client)
        return client

    yield build
    for client in opened:
        client.__exit__(None, None, None)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("local-data")


@pytest.fixture(scope="module")
def rich_config(data_dir: Path) -> dict[str, Any]:
    from tests.proxy.fake_upstream import free_port

    return {
        "categories": {
            "event_logging": {
                "mode": "keep",
                "sink": {"path": str(data_dir / "telemetry" / "events.jsonl"), "max_bytes": 400},
            },
            "voice": {"mode": "passthrough", "upstream": f"http://127.0.0.1:{free_port()}"},
        },
        "local": {
            "data_dir": str(data_dir / "state"),
            "account": {
                "uuid": ACCOUNT,
                "email": "dana@example.com",
                "display_name": "Dana",
                "created_at": "2025-01-02T03:04:05Z",
            },
            "organization": {
                "uuid": ORG,
                "name": "Acme",
                "organization_type": "claude_max",
                "rate_limit_tier": "default_claude_max_20x",
                "role": "developer",
                "workspace_role": "workspace_developer",
                "capabilities": ["chat", "claude_max"],
                "admin_requests_allowed": True,
            },
            "usage": {"limits": {"five_hour": 40, "seven_day": 1000}, "operations": ["stub.oauth.hello"]},
            "mcp_servers": MCP_SERVERS,
        },
    }


ROUTING = {
    "default": "claude",  # every listed id must route
    "models": [{"id": "claude-opus-5-5", "display_name": "Claude Opus 5.5"}, {"id": "claude-haiku-5-5"}],
}


@pytest.fixture(scope="module")
def rich(make: Make, rich_config: dict[str, Any]) -> TestClient:
    return make(rich_config, model_list=MODEL_LIST, routing=ROUTING)


@pytest.fixture(scope="module")
def default(make: Make) -> TestClient:
    return make()


def test_without_a_passthrough_section_everything_is_answered_locally(default: TestClient) -> None:
    profile = default.get("/api/oauth/profile").json()
    assert profile["account"]["email"] == "local@localhost"
    # the default identity is stable: derived from the configured names, the same on every start
    assert profile["account"]["uuid"] == local_uuid("account:local@localhost")
    assert default.get("/api/oauth/claude_cli/roles").json()["organization_role"] == "admin"
    assert default.get("/api/hello").json()["message"] == "hello"
    assert default.head("/api/hello").status_code == 200
    assert default.get("/v1/mcp_servers").json() == {"data": [], "has_more": False, "next_page": None}
    boot = default.get("/api/claude_cli/bootstrap").json()
    assert boot["additional_model_options"] == [] and boot["client_data"] == {}


def test_profile_roles_and_bootstrap_come_from_config(rich: TestClient) -> None:
    profile = rich.get("/api/oauth/profile").json()
    assert profile["account"] == {
        "uuid": ACCOUNT,
        "email": "dana@example.com",
        "display_name": "Dana",
        "created_at": "2025-01-02T03:04:05Z",
    }
    assert profile["organization"]["uuid"] == ORG and profile["organization"]["organization_type"] == "claude_max"
    cli = rich.get("/api/claude_cli_profile", params={"account_uuid": ACCOUNT}).json()
    assert cli["account"]["has_claude_max"] is True and cli["account"]["has_claude_pro"] is False
    assert rich.get("/api/claude_cli_profile", params={"account_uuid": "someone-else"}).status_code == 404
    assert rich.get("/api/oauth/claude_cli/roles").json() == {
        "organization_role": "developer",
        "workspace_role": "workspace_developer",
        "organization_name": "Acme",
    }
    web = rich.get("/api/bootstrap").json()
    assert web["account"]["email_address"] == "dana@example.com"
    assert web["account"]["memberships"][0]["organization"]["capabilities"] == ["chat", "claude_max"]
    boot = rich.get("/api/claude_cli/bootstrap").json()
    assert boot["oauth_account"]["organization_uuid"] == ORG and boot["oauth_account"]["account_uuid"] == ACCOUNT


def test_bootstrap_model_options_follow_the_routing_config(rich: TestClient) -> None:
    boot = rich.get("/api/claude_cli/bootstrap").json()
    assert boot["additional_model_options"] == [
        {"model": "claude-opus-5-5", "name": "Claude Opus 5.5", "description": "Routed by this gateway"},
        {"model": "claude-haiku-5-5", "name": "claude-haiku-5-5", "description": "Routed by this gateway"},
    ]


def test_without_routing_models_the_model_list_groups_are_offered() -> None:
    settings = settings_from_mapping({"model_list": MODEL_LIST})
    config = parse_proxy_config(settings)
    answers = LocalAnswers(config, LocalStore(None), RequestAccounting(), EventSink(config.sink))
    options, costs = answers.model_options()
    assert [o["model"] for o in options] == ["deepseek", "claude"]
    assert "deepseek/deepseek-v4-pro" in options[0]["description"]
    assert costs == {
        "deepseek": {
            "input_tokens": 0.5,
            "output_tokens": 2.0,
            "prompt_cache_write_tokens": 0.5,
            "prompt_cache_read_tokens": 0.5,
        }
    }


def test_account_settings_are_stored_and_survive_a_restart(
    rich: TestClient, make: Make, rich_config: dict[str, Any], data_dir: Path
) -> None:
    assert rich.get("/api/oauth/account/settings").json() == {"grove_enabled": None, "grove_notice_viewed_at": None}
    updated = rich.patch("/api/oauth/account/settings", json={"grove_enabled": True})
    assert updated.json() == {"grove_enabled": True, "grove_notice_viewed_at": None}
    assert rich.patch("/api/oauth/account/settings", json={"grove_enabled": "yes"}).status_code == 400
    saved = json.loads((data_dir / "state" / "local_state.json").read_text())
    assert saved["account_settings"]["grove_enabled"] is True
    restarted = make(rich_config)
    assert restarted.get("/api/oauth/account/settings").json()["grove_enabled"] is True


def test_admin_requests_flow_for_the_configured_organization(rich: TestClient) -> None:
    base = f"/api/oauth/organizations/{ORG}"
    assert rich.get(f"{base}/admin_requests/eligibility", params={"request_type": "limit_increase"}).json() == {
        "request_type": "limit_increase",
        "is_allowed": True,
    }
    mine = rich.get(f"{base}/admin_requests/me", params={"request_type": "limit_increase"})
    assert mine.status_code == 200 and mine.content == b"null"
    created = rich.post(f"{base}/admin_requests", json={"request_type": "limit_increase", "details": None}).json()
    assert created["status"] == "pending" and created["requester_uuid"] == ACCOUNT
    again = rich.post(f"{base}/admin_requests", json={"request_type": "limit_increase", "details": None}).json()
    assert again["uuid"] == created["uuid"]  # the pending one is returned, not a second one
    listed = rich.get(
        f"{base}/admin_requests/me",
        params=[("request_type", "limit_increase"), ("statuses", "pending"), ("statuses", "dismissed")],
    ).json()
    assert [r["uuid"] for r in listed] == [created["uuid"]]
    assert rich.get(f"{base}/overage_credit_grant").json()["available"] is False
    assert rich.get(f"{base}/referral/eligibility").json()["eligible"] is False
    repo = rich.get(f"{base}/code/repos/acme/widgets").json()
    assert repo == {"repo": {"name": "widgets", "owner": {"login": "acme"}}, "status": None}
    other = rich.get("/api/oauth/organizations/not-ours/overage_credit_grant")
    assert other.status_code == 404 and other.json()["error"]["type"] == "not_found_error"


def test_admin_requests_can_be_disabled(default: TestClient) -> None:
    org = default.get("/api/oauth/profile").json()["organization"]["uuid"]
    eligibility = default.get(
        f"/api/oauth/organizations/{org}/admin_requests/eligibility", params={"request_type": "seat_upgrade"}
    )
    assert eligibility.json()["is_allowed"] is False
    refused = default.post(
        f"/api/oauth/organizations/{org}/admin_requests",
        json={"request_type": "seat_upgrade", "details": {"message": "please", "current_seat_tier": None}},
    )
    assert refused.status_code == 403


def test_usage_is_computed_from_the_gateway_request_accounting(rich: TestClient) -> None:
    before = rich.get("/api/oauth/usage").json()["gateway_requests"]
    for _ in range(4):
        rich.get("/api/hello")
    rich.get("/api/oauth/organizations/nobody/overage_credit_grant")  # not a counted operation
    usage = rich.get("/api/oauth/usage").json()
    counted = usage["gateway_requests"]
    five_hour = counted["windows"]["five_hour"]
    assert five_hour == before["windows"]["five_hour"] + 4
    assert usage["five_hour"]["utilization"] == round(100 * five_hour / 40, 2)
    assert usage["seven_day"]["utilization"] == round(100 * counted["windows"]["seven_day"] / 1000, 2)
    resets = datetime.fromisoformat(usage["five_hour"]["resets_at"].replace("Z", "+00:00"))
    assert timedelta(hours=4, minutes=50) < resets - datetime.now(UTC) <= timedelta(hours=5)
    assert usage["seven_day_opus"] is None and usage["extra_usage"]["is_enabled"] is False
    assert counted["by_operation"]["stub.oauth.hello"] == before["by_operation"].get("stub.oauth.hello", 0) + 4
    assert counted["by_operation"]["proxy.organizations.overage_credit_grant"] >= 1


def test_mcp_servers_come_from_config_with_paging(rich: TestClient) -> None:
    everything = rich.get("/v1/mcp_servers", params={"limit": 1000}).json()
    assert [s["display_name"] for s in everything["data"]] == ["Linear", "Docs", "Wiki"]
    assert everything["data"][0]["created_at"] == "2026-09-04T12:30:00Z"
    assert everything["data"][1]["id"] == "mcprs_docs" and everything["data"][2]["id"].startswith("mcprs_")
    page = rich.get("/v1/mcp_servers", params={"limit": 2}).json()
    assert page["has_more"] is True and page["next_page"] == "2"
    rest = rich.get("/v1/mcp_servers", params={"limit": 2, "page": page["next_page"]}).json()
    assert [s["display_name"] for s in rest["data"]] == ["Wiki"] and rest["has_more"] is False
    assert rich.get("/v1/mcp_servers", params={"page": "nope"}).status_code == 400


def test_event_logging_kept_in_a_rotating_jsonl_sink(rich: TestClient, data_dir: Path) -> None:
    sink = data_dir / "telemetry" / "events.jsonl"
    events = [{"event_type": "ClaudeCodeInternalEvent", "event_data": {"event_name": f"e{i}"}} for i in range(3)]
    response = rich.post("/api/event_logging/v2/batch", json={"events": events})
    assert response.json() == {"status": "ok", "kept": 3}
    legacy = {"event_type": "GrowthbookExperimentEvent", "event_data": {}}
    rich.post("/api/event_logging/batch", json={"events": [legacy]})
    files = sorted(p.name for p in sink.parent.iterdir())
    assert files[0] == "events.jsonl" and len(files) >= 2  # rotated at 400 bytes
    lines = [
        json.loads(line) for p in sorted(sink.parent.iterdir(), reverse=True) for line in p.read_text().splitlines()
    ]
    assert [line["event"] for line in lines] == [*events, legacy]
    assert lines[0]["request_id"] == response.headers["request-id"]
    assert lines[0]["endpoint"] == "/api/event_logging/v2/batch"


def test_token_and_key_minting_are_refused_honestly(default: TestClient) -> None:
    token = default.post("/v1/oauth/token", json={"grant_type": "refresh_token", "refresh_token": "x"})
    assert token.status_code == 403 and "local mode" in token.json()["error"]["message"]
    assert default.post("/api/oauth/claude_cli/create_api_key").status_code == 403


def test_voice_is_refused_in_local_mode_and_426_over_plain_http(default: TestClient) -> None:
    with pytest.raises(WebSocketDenialResponse) as refused:
        with default.websocket_connect("/api/ws/speech_to_text/voice_stream"):
            pass
    assert refused.value.status_code == 403
    plain = default.get("/api/ws/speech_to_text/voice_stream")
    assert plain.status_code == 426 and plain.headers["upgrade"] == "websocket"


def test_voice_upstream_down_is_refused_with_502(rich: TestClient) -> None:
    with pytest.raises(WebSocketDenialResponse) as refused:
        with rich.websocket_connect("/api/ws/speech_to_text/voice_stream?language=en"):
            pass
    assert refused.value.status_code == 502 and refused.value.json()["error"]["type"] == "api_error"


def test_with_gateway_keys_local_answers_need_one(make: Make) -> None:
    client = make(keys=True)
    missing = client.get("/api/oauth/profile")
    assert missing.status_code == 401 and missing.json()["error"]["type"] == "authentication_error"
    assert client.get("/api/oauth/profile", headers={"x-api-key": "sk-wrong-0123456789abcdef"}).status_code == 401
    assert client.get("/api/oauth/profile", headers={"x-api-key": KEY}).status_code == 200
    assert client.get("/v1/mcp_servers", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
    assert client.get("/api/hello").status_code == 200  # the reachability probe stays open
