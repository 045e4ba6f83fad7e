"""The catalogue, the spec, the handlers, the client stubs and the README map agree."""

from __future__ import annotations

import re

from codegen import handlers, implementation_map
from codegen.catalogue import parse
from codegen.spec import CATALOGUE, ROOT, SPEC, import_catalogue, load_yaml, operations

SPEC_DOC = load_yaml(SPEC)
OPS = operations(SPEC_DOC)

# the operations issue #2 lists beyond the SDK's (method, path)
REQUIRED = [
    "GET /v1/code/sessions",
    "POST /v1/code/sessions",
    "GET /v1/code/sessions/{session_id}",
    "POST /v1/environments/bridge",
    "DELETE /v1/environments/bridge/{environment_id}",
    "POST /v1/environments/{environment_id}/bridge/reconnect",
    "GET /v1/environments/{environment_id}/work/poll",
    "POST /v1/environments/{environment_id}/work/{work_id}/ack",
    "POST /v1/environments/{environment_id}/work/{work_id}/heartbeat",
    "POST /v1/environments/{environment_id}/work/{work_id}/stop",
    "GET /api/oauth/profile",
    "POST /v1/oauth/token",
    "GET /api/oauth/claude_cli/roles",
    "POST /api/oauth/claude_cli/create_api_key",
    "GET /api/oauth/usage",
    "GET /api/claude_cli_profile",
    "GET /api/hello",
    "HEAD /api/hello",
    "GET /api/claude_cli/bootstrap",
    "GET /api/bootstrap",
    "GET /api/oauth/account/settings",
    "PATCH /api/oauth/account/settings",
    "POST /api/event_logging/batch",
    "POST /api/event_logging/v2/batch",
    "GET /v1/mcp_servers",
    "GET /api/ws/speech_to_text/voice_stream",
    "GET /healthcheck",
    "GET /health/liveliness",
    "GET /health/readiness",
    "HEAD /",
    "POST /v1/complete",
    "POST /v1/messages",
    "POST /v1/messages/count_tokens",
    "GET /v1/models",
    "GET /v1/models/{model_id}",
]


def test_spec_handlers_and_catalogue_agree() -> None:
    assert handlers.check(SPEC_DOC, parse(CATALOGUE)) == []


def test_surface_is_complete() -> None:
    assert len(OPS) >= 170
    assert [key for key in REQUIRED if key not in OPS] == []
    organizations = [k for k in OPS if k.split(" ")[1].startswith("/api/oauth/organizations/")]
    assert len(organizations) >= 6
    code_sessions = [k for k in OPS if k.split(" ")[1].startswith("/v1/code/sessions")]
    assert len(code_sessions) >= 9


def test_every_operation_accepts_the_shared_parameters_and_has_a_tag_and_implementation() -> None:
    shared = {
        "#/components/parameters/Beta",
        "#/components/parameters/AnthropicVersion",
        "#/components/parameters/AnthropicBeta",
    }
    tags = {t["name"] for t in SPEC_DOC["tags"]}
    for key, (_m, _p, op) in OPS.items():
        refs = {p.get("$ref") for p in op.get("parameters", [])}
        assert shared <= refs, key
        assert op["tags"][0] in tags, key
        assert op["x-implementation"] in ("native", "custom", "proxy", "stub"), key
        secured = op["x-implementation"] in ("native", "custom")
        assert bool(op.get("security")) == secured, key


def test_spec_has_no_openapi_31_constructs() -> None:
    text = SPEC.read_text(encoding="utf-8")
    assert SPEC_DOC["openapi"] == "3.0.3"
    assert not re.search(r"^\s*(const|\$defs|prefixItems):", text, re.M)
    assert not re.search(r"type:\s*\n\s*- ", text)


def test_every_parameter_has_a_type() -> None:
    """connexion 3.3 reads ``schema["type"]`` of every parameter when parsing a request: an untyped one (an
    ``anyOf`` of strings) turned every request carrying it into a 500 before the handler."""
    shared = SPEC_DOC["components"].get("parameters", {})
    untyped = []
    for key, (_method, _path, op) in OPS.items():
        for param in op.get("parameters", []):
            if "$ref" in param:
                param = shared[param["$ref"].rsplit("/", 1)[-1]]
            schema = param.get("schema", {})
            if "type" not in schema and "$ref" not in schema:
                untyped.append(f"{key} {param['name']}")
    assert untyped == []


def test_no_drift_between_catalogue_spec_and_readme() -> None:
    added, _text = import_catalogue(write=False)
    assert added == []
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert implementation_map.readme_with_map(readme, SPEC_DOC) == readme
