"""Issue 17, point 8: out-of-range ``limit`` values and cursors that name nothing are 400 (as Anthropic's API answers),
never silently clamped; the contract states each list's range (``minimum``/``maximum``)."""

from __future__ import annotations

import httpx
import pytest

from tests.core.conftest import assert_envelope
from tests.hostile.conftest import KEY_A, Gateway

LISTS = [("/v1/models", 1000), ("/v1/agents", 100), ("/v1/files", 1000), ("/v1/sessions", 100), ("/v1/vaults", 100)]


def get(gateway: Gateway, path: str, **params: object) -> httpx.Response:
    return httpx.get(f"{gateway.url}{path}", params=params, headers={"x-api-key": KEY_A})  # type: ignore[arg-type]


@pytest.mark.parametrize(("path", "maximum"), LISTS)
@pytest.mark.parametrize("offset", ["-1", "0", "above", "10**20", "1.5", "x"])
def test_an_out_of_range_limit_is_a_400(keyed_gateway: Gateway, path: str, maximum: int, offset: str) -> None:
    limit = {"above": str(maximum + 1), "10**20": str(10**20)}.get(offset, offset)
    message = assert_envelope(get(keyed_gateway, path, limit=limit), 400, "invalid_request_error")
    assert "limit" in message


@pytest.mark.parametrize(("path", "maximum"), LISTS)
def test_the_range_ends_are_served(keyed_gateway: Gateway, path: str, maximum: int) -> None:
    for limit in (1, maximum):
        response = get(keyed_gateway, path, limit=limit)
        assert response.status_code == 200, response.text


def test_models_paging_never_traps_a_client(keyed_gateway: Gateway) -> None:
    seen: list[str] = []
    after: str | None = None
    for _ in range(50):
        params: dict[str, object] = {"limit": 1, **({"after_id": after} if after else {})}
        body = get(keyed_gateway, "/v1/models", **params).json()
        seen += [m["id"] for m in body["data"]]
        if not body["has_more"]:
            break
        assert body["last_id"], body  # has_more always comes with a cursor
        after = body["last_id"]
    else:
        pytest.fail("paging did not end")
    assert len(seen) == len(set(seen)) and seen


@pytest.mark.parametrize("anchor", ["after_id", "before_id"])
def test_a_models_cursor_naming_no_model_is_a_400(keyed_gateway: Gateway, anchor: str) -> None:
    # (the contract marks the rule x-semantic-validation: JSON Schema cannot name the served models)
    response = get(keyed_gateway, "/v1/models", **{anchor: "garbage-model-id"})
    assert anchor in assert_envelope(response, 400, "invalid_request_error")


def test_memory_lists_range_1_to_100_and_the_full_view_caps_at_20(keyed_gateway: Gateway) -> None:
    headers = {"x-api-key": KEY_A}
    store = httpx.post(f"{keyed_gateway.url}/v1/memory_stores", json={"name": "ranges"}, headers=headers)
    assert store.status_code == 200, store.text
    path = f"/v1/memory_stores/{store.json()['id']}/memories"
    assert get(keyed_gateway, path, view="full", limit=100).status_code == 200  # documented: capped at 20
    for view in ("full", "basic"):
        response = get(keyed_gateway, path, view=view, limit=101)
        assert "100" in assert_envelope(response, 400, "invalid_request_error")


@pytest.mark.parametrize("path", ["/v1/agents", "/v1/sessions", "/v1/memory_stores"])
@pytest.mark.parametrize("value", ["yesterday", "2026-13-01T00:00:00Z", "0000-00-00"])
def test_a_malformed_created_at_bound_is_a_400(keyed_gateway: Gateway, path: str, value: str) -> None:
    response = get(keyed_gateway, path, **{"created_at[gte]": value})
    assert "created_at" in assert_envelope(response, 400, "invalid_request_error")


def test_a_well_formed_created_at_bound_filters(keyed_gateway: Gateway) -> None:
    for value in ("2000-01-01T00:00:00Z", "0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00"):
        assert get(keyed_gateway, "/v1/agents", **{"created_at[gte]": value}).status_code == 200
