"""schemathesis in *negative* mode (data the contract says is invalid) over every operation of a real gateway process:
no server error the gateway is responsible for, and every refusal is the Anthropic envelope with a request id.

Excused, and only these: a planned operation's 501 (by design), and a 502/504 whose envelope says an upstream failed
(this gateway's native and pass-through operations call Anthropic's hosts, which the test machine does not reach; a
negative case the contract cannot refuse - e.g. an unknown ``anthropic-beta`` value - is forwarded)."""

from __future__ import annotations

import json

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case
from schemathesis.core.transport import Response

from codegen.spec import SPEC
from tests.hostile.conftest import KEY_A, Gateway

EXAMPLES = 2


CONFIG = schemathesis.Config.from_dict({"generation": {"mode": "negative"}})
# the stored resources and the models list: a bounded run (the whole contract in negative mode against a real
# process took over 15 minutes on the shared 2-core machine)
SCOPE = r"^/v1/(agents|environments|sessions|vaults|memory_stores|user_profiles|models)(/|$)"
schema = schemathesis.openapi.from_path(SPEC, config=CONFIG).include(path_regex=SCOPE)


def check(case: Case, response: Response) -> None:
    status = response.status_code
    planned = bool(case.operation.definition.raw.get("x-planned"))
    if case.operation.definition.raw.get("x-websocket") or status < 400:
        return
    assert response.headers.get("content-type", [""])[0] == "application/json", (status, response.text[:200])
    body = json.loads(response.content)
    assert body["type"] == "error" and body["request_id"] == response.headers["request-id"][0]
    if status < 500 or (planned and status == 501):
        return
    upstream = status in (502, 504) and "upstream" in body["error"]["message"]
    assert upstream, (case.operation.label, status, body)


@pytest.mark.fuzz
@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_negative_data_gets_no_server_error(case: Case, keyed_gateway: Gateway) -> None:
    check(case, case.call(base_url=keyed_gateway.url, headers={"x-api-key": KEY_A}, timeout=30))
