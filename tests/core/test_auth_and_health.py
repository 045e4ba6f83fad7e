"""Gateway API keys (keyed mode), local mode, health endpoints and the voice WebSocket in local mode."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace

import pytest
from starlette.testclient import TestClient, WebSocketDenialResponse

from gateway import __version__
from gateway.auth import KEY_INDEX_STATE, KeyIndex, api_key_info, bearer_info
from gateway.settings import ApiKey, Settings, hash_key
from tests.core.conftest import ALICE_KEY, BOB_KEY, REQUEST_ID, assert_envelope, keyed_settings


def test_missing_key_is_401(keyed_client: TestClient) -> None:
    message = assert_envelope(keyed_client.get("/v1/things"), 401, "authentication_error")
    assert message.startswith("missing API key")


def test_invalid_x_api_key_is_401_without_echoing_it(keyed_client: TestClient) -> None:
    wrong = "sk-wrong-key-do-not-echo-0000"
    response = keyed_client.get("/v1/things", headers={"x-api-key": wrong})
    assert assert_envelope(response, 401, "authentication_error") == "invalid x-api-key"
    assert wrong not in response.text


def test_invalid_bearer_is_401_without_echoing_it(keyed_client: TestClient) -> None:
    wrong = "sk-wrong-bearer-do-not-echo-1"
    response = keyed_client.get("/v1/things", headers={"authorization": f"Bearer {wrong}"})
    assert assert_envelope(response, 401, "authentication_error") == "invalid bearer token"
    assert wrong not in response.text


def test_key_accepted_as_x_api_key(keyed_client: TestClient) -> None:
    response = keyed_client.get("/v1/things", headers={"x-api-key": ALICE_KEY})
    assert response.status_code == 200, response.text
    assert response.json()["token_info"] == {"sub": "alice", "workspace": "research"}
    assert response.json()["user"] == "alice"
    assert REQUEST_ID.match(response.headers["request-id"])


def test_key_accepted_as_bearer(keyed_client: TestClient) -> None:
    response = keyed_client.post(
        "/v1/things", json={"name": "w", "count": 1}, headers={"authorization": f"Bearer {BOB_KEY}"}
    )
    assert response.status_code == 201, response.text
    assert response.json()["token_info"] == {"sub": "bob", "workspace": "default"}


def test_key_sha256_entries_work(make_client: Callable[[Settings], TestClient]) -> None:
    settings = keyed_settings()
    only_digest = Settings(
        spec_path=settings.spec_path,
        handlers_package=settings.handlers_package,
        api_keys=(ApiKey(key_sha256=hash_key("sk-digest-only-key-000000"), name="ci", workspace="ci"),),
    )
    client = make_client(only_digest)
    assert client.get("/v1/things", headers={"x-api-key": "sk-digest-only-key-000000"}).status_code == 200
    assert client.get("/v1/things", headers={"x-api-key": ALICE_KEY}).status_code == 401


def test_unsecured_health_endpoints_need_no_key_in_keyed_mode(keyed_client: TestClient) -> None:
    response = keyed_client.get("/healthcheck")
    assert response.status_code == 200
    assert response.json() == {"status": "healthy", "version": __version__}


def test_local_mode_accepts_requests_without_any_key(client: TestClient) -> None:
    response = client.get("/v1/things")
    assert response.status_code == 200, response.text
    assert response.json()["token_info"] == {"sub": "local", "workspace": "default"}
    assert client.get("/v1/things", headers={"x-api-key": "anything-at-all"}).status_code == 200


def test_auth_functions_fail_closed_without_lifespan_state() -> None:
    assert api_key_info(ALICE_KEY, request=SimpleNamespace(scope={})) is None
    assert bearer_info(ALICE_KEY, request=None) is None


def test_auth_functions_use_the_key_index_in_request_state() -> None:
    index = KeyIndex.from_settings(keyed_settings())
    request = SimpleNamespace(scope={"state": {KEY_INDEX_STATE: index}})
    assert api_key_info(ALICE_KEY, None, request=request) == {"sub": "alice", "workspace": "research"}
    assert bearer_info(BOB_KEY, request=request) == {"sub": "bob", "workspace": "default"}
    assert api_key_info(ALICE_KEY + "x", request=request) is None


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/health/liveliness", {"status": "alive"}),
        (
            "/health/readiness",  # the database and the drain state are checked (gateway.ops.health); no Redis here
            {
                "status": "ready",
                "checks": {
                    "spec": {"status": "ok", "detail": None},
                    "database": {"status": "ok", "detail": None},
                    "drain": {"status": "ok", "detail": None},
                },
            },
        ),
    ],
)
def test_health_endpoints(client: TestClient, path: str, expected: dict[str, object]) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.json() == expected


def test_head_root_is_empty_200(client: TestClient) -> None:
    response = client.head("/")
    assert response.status_code == 200
    assert response.content == b""
    assert REQUEST_ID.match(response.headers["request-id"])


def test_voice_websocket_is_refused_in_local_mode(client: TestClient) -> None:
    # the relay itself is tested in tests/proxy; without a passthrough section the voice category is local
    with pytest.raises(WebSocketDenialResponse) as refused:
        with client.websocket_connect("/api/ws/speech_to_text/voice_stream"):
            pass
    assert refused.value.status_code == 403
    assert refused.value.json()["error"]["type"] == "permission_error"
