"""Every operation is reachable: with first-match routing, no templated path shadows a concrete one."""

from __future__ import annotations

import re

from starlette.testclient import TestClient

from codegen.spec import SPEC, load_yaml, operations
from gateway.app import create_app
from gateway.settings import settings_from_mapping
from gateway.spec import routing_order

DOC = load_yaml(SPEC)


def _regex(template: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$")


def test_first_match_in_routing_order_is_the_operation_itself() -> None:
    ordered = list(routing_order(DOC)["paths"].items())
    wrong = []
    for _key, (method, template, _op) in operations(DOC).items():
        concrete = re.sub(r"\{[^}]+\}", "p1", template)
        first = next(t for t, item in ordered if method in item and _regex(t).match(concrete))
        if first != template:
            wrong.append(f"{method.upper()} {concrete} -> {first}, expected {template}")
    assert wrong == []


def test_concrete_paths_reach_their_own_handler() -> None:
    app = create_app(settings_from_mapping({"gateway": {}}))
    with TestClient(app) as client:
        bridge = client.post("/v1/environments/bridge", json={"machine_name": "m", "directory": "/d"})
        env = client.post("/v1/environments", json={"name": "hosted", "config": {"type": "self_hosted"}}).json()["id"]
        poll = client.get(f"/v1/environments/{env}/work/poll")
        stats = client.get(f"/v1/environments/{env}/work/stats")
    # the bridge's own answer, not POST /v1/environments/{environment_id} (an update of an environment "bridge")
    assert bridge.status_code == 200 and set(bridge.json()) == {"environment_id", "environment_secret"}
    # GET .../work/{work_id} would answer 404 for a work item named "poll" or "stats"
    assert poll.status_code == 200 and poll.json() is None  # nothing queued
    assert stats.status_code == 200 and "queued" in str(stats.json())
