"""schemathesis' stateful phase over the CUSTOM resources, on SQLite and on PostgreSQL.

Scenarios start at a create operation and follow the spec's OpenAPI links (``python -m codegen links``) to the
operations on the created item: retrieve, update, archive, delete, its children. Every check is on for every step;
operations still ``x-planned`` (501 by design) are left out of the state machine, not excused from checks. The
number of linked operations reached with a 2xx is asserted (at least a third of them), so broken links (for example
creates that no longer return an ``id``) fail the test instead of silently testing nothing. The session-ingress part
asserts more: every one of its operations reached with a 2xx, and the ``Last-Uuid`` loop both ways (an append naming
the entry it just wrote, and an append adopting the ``x-last-uuid`` of a 409, each answered 200)."""

from __future__ import annotations

import os
import re
import uuid
from collections import Counter
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case
from schemathesis.core.transport import Response

from codegen.links import expected_links
from codegen.spec import SPEC, load_yaml, operations
from gateway.app import create_app
from gateway.settings import settings_from_mapping
from tests.contract._stats import SCHEMATHESIS_CASES
from tests.model_fake import model_routing
from tests.storage.conftest import DATABASES, storage_section

KEY = "sk-gw-test-stateful-0123456789"
STATUSES: Counter[tuple[str, int]] = Counter()  # (operationId, status) of every step, for the failure message
# Only the spec's own links: schemathesis' inferred ones (1,000+ guesses) crowd out the create operations as roots.
# A scenario reaches states in which the API's documented answer to a schema-valid request is 400 (update after
# archive, events to an archived session, poll on a cloud environment's work queue, results of an unfinished batch):
# in this phase positive_data_acceptance accepts 400 as well; the stateless suite keeps it strict. Every other check
# (no 5xx, schema conformance, use-after-free, resource availability, ...) is unchanged.
STATEFUL_ACCEPTED = ["2xx", "400", "401", "403", "404", "409"]
CONFIG = schemathesis.Config.from_dict(
    {
        "phases": {
            "stateful": {
                "inference": {"algorithms": []},
                "generation": {"mode": "positive"},  # negative data is the stateless suite's job
                "checks": {"positive_data_acceptance": {"expected-statuses": STATEFUL_ACCEPTED}},
            }
        },
    }
)
SCENARIOS = int(os.environ.get("GATEWAY_STATEFUL_EXAMPLES", "150"))


def _planned(ctx: Any) -> bool:
    return bool(ctx.operation.definition.raw.get("x-planned"))


# The claude.ai code-session surface runs as a state machine of its own: its create always succeeds with random
# bodies and has many links, so in one machine with the other resources it took every scenario (the derandomized
# root choice kept returning to it) and the other resources went untested. Each part keeps every check.
# Session ingress is in the code-session machine too (its writes and the worker's reads share the session's events),
# but there its operations are 4 of the create's 16 links and an append after an append is rare; so it also runs in
# a small machine of its own (the create and the ingress operations) with longer scenarios, where the Last-Uuid loop
# is reached (30 x 10 steps; 20 x 10 or 24 x 8 missed one of its two ways).
CODE = r"custom\.(code_sessions|code_session_worker|environment_bridge|session_ingress)\."
INGRESS = r"^custom\.(code_sessions\.create$|session_ingress\.)"
APPEND = "custom.session_ingress.append_log"


class Part(NamedTuple):
    include: str
    exclude: str | None
    scenarios: int
    steps: int


PARTS = {
    "resources": Part(r"^custom\.", CODE, SCENARIOS, 6),
    "code_sessions": Part("^" + CODE, None, SCENARIOS, 6),
    "session_ingress": Part(INGRESS, None, max(10, SCENARIOS // 5), 10),
}


def _in_part(operation_id: str, part: str) -> bool:
    include, exclude = PARTS[part].include, PARTS[part].exclude
    return re.match(include, operation_id) is not None and (exclude is None or re.match(exclude, operation_id) is None)


def _last_uuid_step(case: Case, response: Response, conflicts: set[str], loop: Counter[str]) -> None:
    """Count an append's ``Last-Uuid`` outcome: a 409's ``x-last-uuid`` goes into ``conflicts``; a 200 to an append
    that named one of them is ``adopted`` (the client's retry), to one naming another entry ``chained``."""
    sent = {name.lower(): value for name, value in (case.headers or {}).items()}.get("last-uuid")
    named = response.headers.get("x-last-uuid")
    if response.status_code == 409 and named:
        conflicts.add(named[0])
    elif response.status_code == 200 and sent:
        loop["adopted" if sent in conflicts else "chained"] += 1


@pytest.mark.fuzz
@pytest.mark.parametrize("part", list(PARTS))
@pytest.mark.parametrize("database", DATABASES)
def test_links_from_creates(database: str, part: str, tmp_path: Path) -> None:
    with storage_section(database, tmp_path) as storage:
        doc = {
            "gateway": {"api_keys": [{"key": KEY, "name": "fuzz", "workspace": "fuzz"}], "validate_responses": True},
            "storage": storage,
            **model_routing(),
        }
        schema = (
            schemathesis.openapi.from_asgi("/openapi.json", create_app(settings_from_mapping(doc)), config=CONFIG)
            .include(operation_id_regex=PARTS[part].include)
            .exclude(func=_planned)
        )
        if PARTS[part].exclude is not None:
            schema = schema.exclude(operation_id_regex=PARTS[part].exclude)
        reached: Counter[str] = Counter()
        conflicts: set[str] = set()
        loop: Counter[str] = Counter()

        class Scenarios(schema.as_state_machine()):  # type: ignore[misc]
            def get_call_kwargs(self, case: Case) -> dict[str, Any]:
                return {"headers": {"x-api-key": KEY}}

            def before_call(self, case: Case) -> None:
                # Environment names are unique per workspace (409 otherwise, tested in tests/storage). Hypothesis
                # replays choice sequences against the same database, so a replayed create must not collide with its
                # earlier run: give every created environment a fresh name.
                if case.method == "POST" and case.path == "/v1/environments" and isinstance(case.body, dict):
                    case.body["name"] = f"{case.body.get('name', '')}-{uuid.uuid4().hex[:8]}"[-256:]
                super().before_call(case)

            def after_call(self, response: Response, case: Case) -> None:
                super().after_call(response, case)
                label = case.operation.label
                SCHEMATHESIS_CASES[f"stateful {label}"] += 1
                STATUSES[(case.operation.definition.raw["operationId"], response.status_code)] += 1
                if response.status_code < 300:
                    reached[case.operation.definition.raw["operationId"]] += 1
                if case.operation.definition.raw["operationId"] == APPEND:
                    _last_uuid_step(case, response, conflicts, loop)

        Scenarios.run(
            settings=settings(
                max_examples=PARTS[part].scenarios,
                stateful_step_count=PARTS[part].steps,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                derandomize=True,
            )
        )
    spec = load_yaml(SPEC)
    planned = {op["operationId"] for _m, _p, op in operations(spec).values() if op.get("x-planned")}
    targets = {
        target
        for source, links in expected_links(spec).items()
        for target in links
        if _in_part(source, part) and _in_part(target, part)
    } - planned
    assert targets, "no links between implemented operations"
    missed = sorted(t for t in targets if reached[t] == 0)
    # Random create bodies cannot name an existing agent/environment (sessions, deployments) or carry a SKILL.md
    # (skills), so the links below those creates are seldom reached here; tests/storage drives every one of them.
    assert len(targets) - len(missed) >= len(targets) // 3, (
        f"linked operations never reached with a 2xx: {missed}; statuses seen: "
        f"{sorted((k, v) for k, v in STATUSES.items() if k[0] in missed)}"
    )
    if part == "session_ingress":
        ingress = {t for t in targets if t.startswith("custom.session_ingress.")}
        assert len(ingress) == 4 and not [t for t in ingress if reached[t] == 0], (
            f"session ingress: {sorted((k, v) for k, v in STATUSES.items() if k[0] in ingress)}"
        )
        assert loop["chained"] and loop["adopted"], (
            f"Last-Uuid loop not reached: {dict(loop)}; append statuses: "
            f"{sorted((k, v) for k, v in STATUSES.items() if k[0] == APPEND)}"
        )
