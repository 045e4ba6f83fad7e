"""schemathesis over every operation of spec/openapi.yaml, in process, with every check enabled.

The only excusals live in the spec itself: an operation marked ``x-planned: true`` answers 501 by design, so it is
excused from ``not_a_server_error`` and from nothing else; a WebSocket operation (``x-websocket: true``) answers plain
HTTP with its documented 426, so it is excused from ``positive_data_acceptance`` and from nothing else; an operation
with ``x-semantic-validation: <rule>`` enforces a rule JSON Schema cannot express (a skill upload must contain a
SKILL.md), so ``positive_data_acceptance`` also accepts its 400 (and every other check stays on).

Cost control, not a loosened check: schemathesis' *coverage* phase enumerates boundary cases of every subschema at
collection time, which takes minutes for request bodies that reference hundreds of schemas (the Messages request
family). For bodies above ``HEAVY_BODY_REFS`` referenced schemas the coverage phase is off; the examples and fuzzing
phases and every check still run on them.
"""

from __future__ import annotations

import json
import os
import re
import tempfile

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import positive_data_acceptance

from codegen.spec import SPEC, load_yaml, operations
from gateway.app import create_app
from gateway.settings import settings_from_mapping
from tests.contract._checks import semantic_operation_configs
from tests.contract._stats import SCHEMATHESIS_CASES
from tests.fast_lane import lane_of
from tests.model_fake import model_routing

KEY = "sk-gw-test-schemathesis-0123456789"
MASTER_KEY = "sk-gw-test-schemathesis-master-0123456789"
ADMIN_PATHS = (
    "/key/",
    "/spend/",
    "/v1/organizations/analytics/",
    "/v1/organizations/usage_report/",
    "/v1/organizations/cost_report",
)  # gateway.keys: master key only
HEAVY_BODY_REFS = 40


def _heavy_bodies() -> list[tuple[str, str]]:
    doc = load_yaml(SPEC)
    schemas = doc["components"]["schemas"]
    heavy = []
    for _key, (method, path, op) in operations(doc).items():
        seen: set[str] = set()
        todo = [op.get("requestBody")]
        while todo:
            for ref in set(re.findall(r"#/components/schemas/([\w.\-]+)", json.dumps(todo.pop()))) - seen:
                seen.add(ref)
                todo.append(schemas[ref])
        if len(seen) > HEAVY_BODY_REFS:
            heavy.append((method.upper(), path))
    return heavy


CONFIG = schemathesis.Config.from_dict(
    {
        "operations": [
            *(
                {"include-method": method, "include-path": path, "phases": {"coverage": {"enabled": False}}}
                for method, path in _heavy_bodies()
            ),
            *semantic_operation_configs(),
        ]
    }
)
APP = create_app(
    settings_from_mapping(
        {
            "gateway": {"api_keys": [{"key": KEY, "name": "fuzz", "workspace": "fuzz"}], "validate_responses": True},
            "general_settings": {"master_key": MASTER_KEY},
            "storage": {"database_url": f"sqlite+aiosqlite:///{tempfile.mkdtemp(prefix='gw-fuzz-')}/gateway.db"},
            **model_routing(),
        }
    )
)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP, config=CONFIG)
EXAMPLES = int(os.environ.get("GATEWAY_FUZZ_EXAMPLES", "12"))


def _planned(case: Case) -> bool:
    return bool(case.operation.definition.raw.get("x-planned"))


def _websocket(case: Case) -> bool:
    """A WebSocket endpoint (``x-websocket: true``): plain HTTP gets its documented 426, which is not a rejection of
    valid data, so it is excused from ``positive_data_acceptance`` (and from nothing else)."""
    return bool(case.operation.definition.raw.get("x-websocket"))


@pytest.mark.fuzz
@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_every_operation(case: Case) -> None:
    SCHEMATHESIS_CASES[case.operation.label] += 1
    excluded = [not_a_server_error] if _planned(case) else []
    if _websocket(case):
        excluded.append(positive_data_acceptance)
    key = MASTER_KEY if case.operation.path.startswith(ADMIN_PATHS) else KEY
    case.call_and_validate(headers={"x-api-key": key}, excluded_checks=excluded)


def test_the_messages_fast_lane_took_the_fuzz_cases() -> None:
    """The Messages operations above were fuzzed through the fast lane (gateway.fastlane), not only through connexion:
    the lane's own counters say so (it answered valid and invalid cases; the unusual ones went to connexion)."""
    fuzzed = sum(SCHEMATHESIS_CASES[label] for label in ("POST /v1/messages", "POST /v1/messages/count_tokens"))
    if not fuzzed:
        pytest.skip("no Messages operation was fuzzed in this run")
    lane = lane_of(APP)
    print(f"fast lane: {lane.taken} taken, {lane.passed} passed to connexion, {fuzzed} cases")
    assert sorted(lane.routes) == ["/v1/messages", "/v1/messages/count_tokens"]
    assert lane.taken > 0
