"""Issue 17, points 1 and 2: deeply nested JSON is a 400 (the depth limit is ``server.max_json_depth``), never a 500
or a traceback; client-controlled strings cannot forge log lines."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from tests.core.conftest import assert_envelope
from tests.hostile.conftest import KEY_A, SERVER, Gateway

DEPTH = int(SERVER["max_json_depth"])
JSON_OPERATIONS = [
    ("POST", "/v1/agents"),
    ("POST", "/v1/messages"),
    ("POST", "/v1/messages/count_tokens"),
    ("POST", "/v1/environments"),
    ("POST", "/v1/sessions"),
    ("PATCH", "/api/oauth/account/settings"),
]


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def send(gateway: Gateway, method: str, path: str, body: bytes) -> httpx.Response:
    headers = {"x-api-key": KEY_A, "content-type": "application/json", "anthropic-version": "2023-06-01"}
    return httpx.request(method, f"{gateway.url}{path}", content=body, headers=headers, timeout=30)


@pytest.mark.parametrize(("method", "path"), JSON_OPERATIONS)
@pytest.mark.parametrize("depth", [DEPTH + 1, 300, 5000, 200_000])
def test_deeply_nested_json_is_a_400(keyed_gateway: Gateway, method: str, path: str, depth: int) -> None:
    message = assert_envelope(send(keyed_gateway, method, path, nested(depth)), 400, "invalid_request_error")
    assert f"at most {DEPTH} levels" in message


def test_nesting_inside_an_object_counts_too(keyed_gateway: Gateway) -> None:
    body = b'{"name": "a", "metadata": {"k": ' + b'{"a": ' * 80 + b"1" + b"}" * 80 + b"}}"
    message = assert_envelope(send(keyed_gateway, "POST", "/v1/agents", body), 400, "invalid_request_error")
    assert "nested too deeply" in message


def test_nesting_at_the_limit_gets_ordinary_validation(keyed_gateway: Gateway) -> None:
    message = assert_envelope(send(keyed_gateway, "POST", "/v1/agents", nested(DEPTH)), 400, "invalid_request_error")
    assert "nested too deeply" not in message  # the schema's own complaint: an array is not an agent


def test_brackets_inside_strings_do_not_count(keyed_gateway: Gateway) -> None:
    body = b'{"name": "b", "description": "' + b"[{" * 1000 + b'", "model": "claude-opus-5-5"}'
    response = send(keyed_gateway, "POST", "/v1/agents", body)
    assert response.status_code == 200, response.text


def test_no_traceback_after_the_nesting_probes(keyed_gateway: Gateway) -> None:
    send(keyed_gateway, "POST", "/v1/agents", nested(300))
    log = keyed_gateway.log_text()
    assert "Traceback" not in log and "RecursionError" not in log


FORGED = "2026-12-04 10:00:00,000 CRITICAL gateway.auth: FORGED=1"
LINE_START = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2},\d{3} [A-Z]+ [\w.]+: ")


def test_client_strings_cannot_forge_log_lines(local_gateway: Gateway) -> None:
    forged = FORGED.replace(" ", "%20")
    # a query parameter name (connexion logs it at ERROR), a path refused by the local-mode Host check (logged at
    # WARNING), CR, LF, Unicode line separators and an ANSI escape
    httpx.get(f"{local_gateway.url}/v1/models?x%0A{forged}=1")
    httpx.get(f"{local_gateway.url}/v1/messages/batches?y%0D%0A{forged}=1")
    httpx.get(f"{local_gateway.url}/v1/models/a%0A{forged}", headers={"host": "attacker.example"})
    httpx.get(f"{local_gateway.url}/v1/models/b%E2%80%A8{forged}%1B[31m", headers={"host": "attacker.example"})
    log = local_gateway.log_text()
    assert log.count("CRITICAL gateway.auth: FORGED") >= 4, log  # the probes were logged: a forged line would show
    messages = []
    for line in log.splitlines():  # JSON lines (ops.log_format: json, the default): each one a whole object
        if line.strip():
            record = json.loads(line)
            assert isinstance(record, dict) and LINE_START.match(f"{record['time']} {record['level']} x: "), line
            messages.append(str(record["message"]))
        assert not line.startswith("2026-12-04 10:00:00"), line
        assert "\x1b" not in line and "\u2028" not in line, line
    assert any("x\\n2026-12-04 10:00:00" in message for message in messages), messages
