"""schemathesis configuration shared by the stateless and the stateful contract tests."""

from __future__ import annotations

from typing import Any

from codegen.spec import SPEC, load_yaml, operations

#: ``positive_data_acceptance`` for an operation with ``x-semantic-validation: <rule>``: it enforces a rule JSON
#: Schema cannot express (a skill upload must contain a SKILL.md), so its 400 is accepted too. Every other check stays.
ACCEPTED_WITH_SEMANTIC_400 = ["2xx", "400", "401", "403", "404"]


def semantic_operation_configs() -> list[dict[str, Any]]:
    return [
        {
            "include-operation-id": op["operationId"],
            "checks": {"positive_data_acceptance": {"expected-statuses": ACCEPTED_WITH_SEMANTIC_400}},
        }
        for _m, _p, op in operations(load_yaml(SPEC)).values()
        if op.get("x-semantic-validation")
    ]
