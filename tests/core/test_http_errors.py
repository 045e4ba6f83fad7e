"""The one error path over HTTP: every error source renders the same envelope with the request id."""

from __future__ import annotations

import logging
from collections.abc import Iterator, MutableMapping
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.core.conftest import REQUEST_ID, REQUEST_LIMIT, UPLOAD_LIMIT, assert_envelope, mini_settings
from tests.core.fixtures.handlers.custom.things import SECRET_IN_EXCEPTION

VALID_THING = {"name": "widget", "count": 2}
JSON = {"content-type": "application/json"}


def test_unknown_path_is_404_envelope_naming_method_and_path(client: TestClient) -> None:
    message = assert_envelope(client.post("/v1/nope/nothing"), 404, "not_found_error")
    assert "POST" in message and "/v1/nope/nothing" in message


def test_handler_not_found_error_is_404_envelope(client: TestClient) -> None:
    message = assert_envelope(client.get("/v1/things/missing"), 404, "not_found_error")
    assert message == "thing missing not found"


def test_concrete_paths_win_over_templated_ones_whatever_the_spec_order(client: TestClient) -> None:
    # the mini spec lists /v1/things/{thing_id} before /v1/things/search
    assert client.get("/v1/things/search").json() == {"data": [], "limit": 20}
    assert client.get("/v1/things/other").json() == {"type": "thing", "id": "other"}


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PATCH", "/v1/things", ["GET", "HEAD", "POST"]),
        ("PUT", "/v1/things/t1", ["GET", "HEAD", "DELETE"]),
        # connexion alone lists only the first matching route's methods ("GET, HEAD" for the two above)
        # OpenAPI matches concrete paths before templated ones: /v1/things/{thing_id} (GET, DELETE) does not count
        ("POST", "/v1/things/search", ["GET", "HEAD"]),
        ("GET", "/v1/things/t1/plan", ["POST"]),
    ],
)
def test_405_lists_every_method_the_spec_defines(
    client: TestClient, method: str, path: str, allowed: list[str]
) -> None:
    response = client.request(method, path)
    message = assert_envelope(response, 405, "invalid_request_error")
    assert [m.strip() for m in response.headers["allow"].split(",")] == allowed
    assert method in message and path in message


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"name": "widget"}, '"count" is a required property'),
        ({"name": "widget", "count": "two"}, "a string is not of type \"integer\" - 'count'"),
        ({"name": "widget", "count": 1, "ref_id": "not-a-uuid"}, "- 'ref_id'"),
        ({"name": "widget", "count": 1, "kind": "medium"}, "- 'kind'"),
        ({"name": "widget", "count": 1, "parent": {"id": "nope"}}, "a string is not a \"uuid\" - 'parent.id'"),
        ({"name": "widget", "count": 1, "payload": {"type": "text", "text": 3}}, "- 'payload.text'"),
        ({"name": "widget", "count": 1, "tags": ["a", 3]}, "- 'tags.1'"),
    ],
)
def test_invalid_json_body_is_400_with_path(client: TestClient, body: dict[str, Any], expected: str) -> None:
    message = assert_envelope(client.post("/v1/things", json=body), 400, "invalid_request_error")
    assert expected in message


def test_valid_body_with_nulls_uuid_and_discriminated_payload_passes(client: TestClient) -> None:
    body = {
        **VALID_THING,
        "note": None,
        "kind": None,
        "parent": None,
        "ref_id": "123e4567-e89b-12d3-a456-426614174000",
        "payload": {"type": "number", "value": 1.5},
        "tags": ["a", None],
    }
    response = client.post("/v1/things", json=body)
    assert response.status_code == 201, response.text
    assert response.json()["received"] == body
    assert REQUEST_ID.match(response.headers["request-id"])


def test_non_utf8_body_is_400(client: TestClient) -> None:
    response = client.post("/v1/things", content=b'{"name": "\xff\xfe", "count": 1}', headers=JSON)
    assert assert_envelope(response, 400, "invalid_request_error") == "request body is not valid UTF-8"


def test_invalid_json_is_400(client: TestClient) -> None:
    response = client.post("/v1/things", content=b'{"name": "widget", ', headers=JSON)
    message = assert_envelope(response, 400, "invalid_request_error")
    assert message.startswith("request body is not valid JSON")


def test_empty_required_body_is_400(client: TestClient) -> None:
    response = client.post("/v1/things", content=b"", headers=JSON)
    assert assert_envelope(response, 400, "invalid_request_error") == "request body is required"


def test_long_values_are_truncated_in_messages(client: TestClient) -> None:
    message = assert_envelope(
        client.post("/v1/things", json={"name": "widget", "count": "x" * 900}), 400, "invalid_request_error"
    )
    assert len(message) < 300
    assert message.endswith("- 'count'")


def test_wrong_content_type_is_415_without_echoing_the_header(client: TestClient) -> None:
    response = client.post("/v1/things", content=b"hello", headers={"content-type": "text/x-secret-type"})
    message = assert_envelope(response, 415, "invalid_request_error")
    assert "application/json" in message
    assert "x-secret-type" not in message


def test_query_parameter_errors_name_the_parameter(client: TestClient) -> None:
    message = assert_envelope(client.get("/v1/things/search?limit=0"), 400, "invalid_request_error")
    assert "'limit'" in message and "minimum" in message
    assert client.get("/v1/things/search?limit=5").json()["limit"] == 5


def test_header_parameter_errors_do_not_echo_the_value(client: TestClient) -> None:
    response = client.get("/v1/things/search", headers={"x-mode": "hunter2-secret"})
    message = assert_envelope(response, 400, "invalid_request_error")
    assert "x-mode" in message
    assert "hunter2" not in response.text


def test_content_length_over_limit_is_413(client: TestClient) -> None:
    response = client.post("/v1/things", content=b"x" * (REQUEST_LIMIT + 1), headers=JSON)
    message = assert_envelope(response, 413, "request_too_large")
    assert str(REQUEST_LIMIT) in message


def _chunks(total: int, size: int = 256) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        n = min(size, total - sent)
        sent += n
        yield b" " * n


def test_chunked_body_over_limit_is_413(client: TestClient) -> None:
    response = client.post("/v1/things", content=_chunks(REQUEST_LIMIT * 3), headers=JSON)
    assert_envelope(response, 413, "request_too_large")


def test_chunked_body_under_limit_is_validated_and_passed_on(client: TestClient) -> None:
    def body() -> Iterator[bytes]:
        yield b'{"name": "wid'
        yield b'get", "count": 3}'

    response = client.post("/v1/things", content=body(), headers=JSON)
    assert response.status_code == 201, response.text
    assert response.json()["received"] == {"name": "widget", "count": 3}


def test_multipart_uploads_get_the_upload_limit(client: TestClient) -> None:
    payload = b"z" * (REQUEST_LIMIT * 2)  # over the request limit, under the upload limit
    response = client.post("/v1/files", files={"file": ("a.bin", payload)}, data={"purpose": "test"})
    assert response.status_code == 201, response.text
    too_big = client.post("/v1/files", files={"file": ("a.bin", b"z" * (UPLOAD_LIMIT + 1))})
    assert_envelope(too_big, 413, "request_too_large")
    # the same size as JSON to the same path is held to the request limit
    json_post = client.post("/v1/files", content=payload, headers=JSON)
    assert_envelope(json_post, 413, "request_too_large")


async def test_declared_oversize_body_is_refused_before_it_is_read() -> None:
    from gateway.app import create_app

    app = create_app(mini_settings())
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        raise AssertionError("the body must not be read")

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/things",
        "raw_path": b"/v1/things",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"1000000000")],
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
    }
    await app(scope, receive, send)
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 413
    assert any(k == b"request-id" for k, _ in sent[0]["headers"])


def test_unhandled_exception_is_500_without_its_text(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="gateway"):
        response = client.get("/v1/boom")
    message = assert_envelope(response, 500, "api_error")
    assert message == "internal server error"
    assert SECRET_IN_EXCEPTION not in response.text
    logged = [r for r in caplog.records if r.exc_info and SECRET_IN_EXCEPTION in str(r.exc_info[1])]
    assert logged, "the crash must be logged with its traceback"
    assert response.json()["request_id"] in logged[0].getMessage()


def test_not_implemented_operation_is_501_naming_it(client: TestClient) -> None:
    message = assert_envelope(client.post("/v1/things/t1/plan"), 501, "api_error")
    assert message == "custom.things.plan is not implemented yet in this gateway (planned)"


def test_every_response_gets_a_fresh_request_id_and_client_ids_are_ignored(client: TestClient) -> None:
    ids = set()
    for _ in range(3):
        response = client.get("/healthcheck", headers={"request-id": "req_client_supplied"})
        assert response.status_code == 200
        assert len(response.headers.get_list("request-id")) == 1
        ids.add(response.headers["request-id"])
    assert len(ids) == 3
    assert all(REQUEST_ID.match(i) for i in ids)
