"""Issue 17, point 5: local answers are per tenant. With gateway keys, each key has its own account id, account
settings and usage; each workspace its own organization id and admin requests. One key can neither see nor change
another's."""

from __future__ import annotations

from typing import Any

import httpx

from tests.core.conftest import assert_envelope
from tests.hostile.conftest import KEY_A, KEY_B, Gateway


def call(gateway: Gateway, key: str, method: str, path: str, body: Any = None) -> httpx.Response:
    return httpx.request(method, f"{gateway.url}{path}", json=body, headers={"x-api-key": key})


def test_account_settings_belong_to_the_key(keyed_gateway: Gateway) -> None:
    settings = "/api/oauth/account/settings"
    changed = call(keyed_gateway, KEY_A, "PATCH", settings, {"grove_enabled": True})
    assert changed.status_code == 200 and changed.json()["grove_enabled"] is True
    assert call(keyed_gateway, KEY_B, "GET", settings).json()["grove_enabled"] is None
    assert call(keyed_gateway, KEY_B, "PATCH", settings, {"grove_enabled": False}).json()["grove_enabled"] is False
    assert call(keyed_gateway, KEY_A, "GET", settings).json()["grove_enabled"] is True


def test_identities_differ_per_key_and_workspace(keyed_gateway: Gateway) -> None:
    alice = call(keyed_gateway, KEY_A, "GET", "/api/oauth/profile").json()
    bob = call(keyed_gateway, KEY_B, "GET", "/api/oauth/profile").json()
    assert alice["account"]["uuid"] != bob["account"]["uuid"]
    assert alice["organization"]["uuid"] != bob["organization"]["uuid"]
    again = call(keyed_gateway, KEY_A, "GET", "/api/oauth/profile").json()
    assert again["account"]["uuid"] == alice["account"]["uuid"]  # stable
    bootstrap = call(keyed_gateway, KEY_A, "GET", "/api/claude_cli/bootstrap").json()
    assert bootstrap["oauth_account"]["account_uuid"] == alice["account"]["uuid"]
    assert bootstrap["oauth_account"]["organization_uuid"] == alice["organization"]["uuid"]
    # each key resolves its own account and organization, not the other's
    own = call(keyed_gateway, KEY_A, "GET", f"/api/claude_cli_profile?account_uuid={alice['account']['uuid']}")
    assert own.status_code == 200, own.text
    other = call(keyed_gateway, KEY_B, "GET", f"/api/claude_cli_profile?account_uuid={alice['account']['uuid']}")
    assert_envelope(other, 404, "not_found_error")
    org = alice["organization"]["uuid"]
    assert call(keyed_gateway, KEY_A, "GET", f"/api/oauth/organizations/{org}/referral/eligibility").status_code == 200
    foreign = call(keyed_gateway, KEY_B, "GET", f"/api/oauth/organizations/{org}/referral/eligibility")
    assert_envelope(foreign, 404, "not_found_error")


def test_usage_counts_only_the_callers_requests(keyed_gateway: Gateway) -> None:
    def windows(key: str) -> int:
        body = call(keyed_gateway, key, "GET", "/api/oauth/usage").json()
        count: int = body["gateway_requests"]["windows"]["five_hour"]
        return count

    before_a, before_b = windows(KEY_A), windows(KEY_B)
    for _ in range(5):
        assert call(keyed_gateway, KEY_A, "GET", "/v1/models").status_code == 200
    assert windows(KEY_A) == before_a + 5
    assert windows(KEY_B) == before_b
