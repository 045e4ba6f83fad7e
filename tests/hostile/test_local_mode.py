"""Issue 17, point 6: a gateway in local mode (no keys) cannot be driven by a web page: loopback Host values only
(DNS rebinding), no cross-origin writes (Origin / Sec-Fetch-Site), no CORS headers."""

from __future__ import annotations

import httpx
import pytest

from tests.core.conftest import assert_envelope
from tests.hostile.conftest import Gateway


@pytest.mark.parametrize("host", ["attacker.example", "attacker.example:4000", "192.168.1.20", "localhost.evil.com"])
def test_a_foreign_host_is_refused(local_gateway: Gateway, host: str) -> None:
    response = httpx.get(f"{local_gateway.url}/v1/models", headers={"host": host})
    assert "Host header" in assert_envelope(response, 400, "invalid_request_error")
    assert "access-control-allow-origin" not in response.headers


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST:4000", "127.0.0.1", "127.0.0.2:1", "[::1]:80", "gw.internal"])
def test_loopback_and_configured_hosts_are_served(local_gateway: Gateway, host: str) -> None:
    response = httpx.get(f"{local_gateway.url}/v1/models", headers={"host": host})
    assert response.status_code == 200, response.text


def upload(gateway: Gateway, name: str, headers: dict[str, str]) -> httpx.Response:
    files = {"file": (name, b"written by a web page", "text/plain")}
    return httpx.post(f"{gateway.url}/v1/files", files=files, headers=headers)


def file_names(gateway: Gateway) -> set[str]:
    response = httpx.get(f"{gateway.url}/v1/files", params={"limit": 1000})
    assert response.status_code == 200, response.text
    return {f["filename"] for f in response.json()["data"]}


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "https://attacker.example"},
        {"origin": "null"},
        {"origin": "http://localhost.attacker.example"},
        {"sec-fetch-site": "cross-site"},
        {"sec-fetch-site": "same-site"},
        {"origin": "https://attacker.example", "sec-fetch-site": "cross-site", "sec-fetch-mode": "no-cors"},
    ],
    ids=["origin", "null-origin", "lookalike-origin", "sec-fetch-cross-site", "sec-fetch-same-site", "browser-like"],
)
def test_a_cross_origin_upload_is_refused_and_writes_nothing(local_gateway: Gateway, headers: dict[str, str]) -> None:
    name = f"cross-origin-{sorted(headers.items())!s:.40}.txt"
    message = assert_envelope(upload(local_gateway, name, headers), 403, "permission_error")
    assert "local mode" in message
    assert name not in file_names(local_gateway)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"origin": "http://localhost:4000", "sec-fetch-site": "same-origin"},
        {"origin": "http://127.0.0.1:4000"},
        {"origin": "https://app.example", "sec-fetch-site": "cross-site"},
        {"sec-fetch-site": "none"},
    ],
    ids=["no-browser-headers", "loopback-origin", "loopback-ip-origin", "configured-origin", "user-initiated"],
)
def test_local_and_configured_origins_may_write(local_gateway: Gateway, headers: dict[str, str]) -> None:
    name = f"allowed-{sorted(headers.items())!s:.40}.txt"
    response = upload(local_gateway, name, headers)
    assert response.status_code == 200, response.text
    assert name in file_names(local_gateway)


def test_other_write_methods_are_refused_too(local_gateway: Gateway) -> None:
    evil = {"origin": "https://attacker.example"}
    for method, path in [("PATCH", "/api/oauth/account/settings"), ("DELETE", "/v1/files/file_x"), ("PUT", "/v1/x")]:
        response = httpx.request(method, f"{local_gateway.url}{path}", headers=evil, json={})
        assert_envelope(response, 403, "permission_error")


def test_reads_and_preflights_get_no_cors_headers(local_gateway: Gateway) -> None:
    evil = {"origin": "https://attacker.example"}
    read = httpx.get(f"{local_gateway.url}/v1/models", headers=evil)
    assert read.status_code == 200  # a browser runs the GET but, without CORS headers, never shows the page the answer
    preflight = httpx.options(
        f"{local_gateway.url}/v1/files",
        headers={**evil, "access-control-request-method": "POST", "access-control-request-headers": "content-type"},
    )
    for response in (read, preflight):
        assert not any(k.lower().startswith("access-control-") for k in response.headers), response.headers
