"""Merge the catalogue into spec/openapi.yaml: add what is missing, never overwrite what a person edited.

Sources for a new operation, in order: a hand-written fragment (spec/fragments/*.yaml), the installed anthropic SDK
(codegen.sdk_spec), else a generic skeleton. Every new operation is normalised: operationId, x-implementation and the
tag come from its catalogue row; shared parameters, error responses and security are added; it starts ``x-planned``.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from codegen.catalogue import Row, parse

ROOT = Path(__file__).resolve().parents[1]
SPEC_DIR = ROOT / "spec"
SPEC = SPEC_DIR / "openapi.yaml"
CATALOGUE = SPEC_DIR / "API_SPEC_CONSOLIDATED.md"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
SHARED_PARAMS = ["Beta", "AnthropicVersion", "AnthropicBeta"]
SECURED = ("native", "custom")
# implementation-map group of the non-SDK resources (SDK operations carry theirs from codegen.sdk_spec)
GROUPS = {
    "complete": "Messages",
    "code_sessions": "Code Sessions",
    "code_session_worker": "Code Sessions (CCR v2 worker)",
    "session_ingress": "Code Sessions (session ingress)",
    "session_files": "Code Sessions (attachments)",
    "environment_bridge": "Environments / Bridge",
    "oauth": "OAuth",
    "bootstrap": "Bootstrap",
    "organizations": "Organizations",
    "account_settings": "Settings",
    "event_logging": "Event Logging",
    "mcp_servers": "MCP",
    "voice": "Voice",
    "health": "Gateway health",
    "keys": "Keys and spend",
    "spend": "Keys and spend",
}

Doc = dict[str, Any]


class _Dumper(yaml.SafeDumper):
    pass


def _str_presenter(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _str_presenter)
_Dumper.ignore_aliases = lambda self, data: True  # type: ignore[method-assign]


def load_yaml(path: Path) -> Doc:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with path.open(encoding="utf-8") as fh:
        data = yaml.load(fh, Loader=loader)
    return data if isinstance(data, dict) else {}


def dump_yaml(doc: Doc) -> str:
    dumper = getattr(yaml, "CSafeDumper", None)
    if dumper is not None:
        return str(yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=120))
    return str(yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=120))


def operations(doc: Doc) -> dict[str, tuple[str, str, Doc]]:
    """``'METHOD path'`` -> (method, path, operation) for every operation of a document."""
    out: dict[str, tuple[str, str, Doc]] = {}
    for path, item in (doc.get("paths") or {}).items():
        for method, op in item.items():
            if method in HTTP_METHODS:
                out[f"{method.upper()} {path}"] = (method, path, op)
    return out


def load_fragments(directory: Path = SPEC_DIR / "fragments") -> tuple[dict[str, Doc], dict[str, Any]]:
    ops: dict[str, Doc] = {}
    schemas: dict[str, Any] = {}
    for file in sorted(directory.glob("*.yaml")):
        frag = load_yaml(file)
        for key, (_m, _p, op) in operations(frag).items():
            ops[key] = op
        schemas.update((frag.get("components") or {}).get("schemas") or {})
    return ops, schemas


def normalise(op: Doc, row: Row) -> Doc:
    op = copy.deepcopy(op)
    op["operationId"] = row.operation_id
    op["x-implementation"] = row.status
    op["tags"] = [row.category]
    op.setdefault("x-planned", True)
    op.setdefault("x-group", GROUPS.get(row.operation_id.split(".")[1], row.category))
    params = [p for p in op.get("parameters", []) if "$ref" not in p]
    op["parameters"] = params + [{"$ref": f"#/components/parameters/{name}"} for name in SHARED_PARAMS]
    op["security"] = [{"ApiKeyAuth": []}, {"BearerAuth": []}] if row.status in SECURED else []
    responses: Doc = op.setdefault("responses", {})
    codes = ["400", "404", "429", "500"]
    if row.status in SECURED:
        codes.append("401")
    if "requestBody" in op:
        codes.append("413")
    if row.status in ("native", "proxy"):
        codes += ["502", "504"]
    if row.status == "native":
        codes.append("529")
    codes.append("501")
    error = {"$ref": "#/components/responses/Error"}
    for code in sorted(codes):
        responses.setdefault(code, error)
    responses.setdefault("default", error)
    for code, response in responses.items():
        if str(code).startswith("2") and isinstance(response, dict) and "$ref" not in response:
            response.setdefault("headers", {}).setdefault("request-id", {"$ref": "#/components/headers/RequestId"})
    return op


def skeleton(row: Row) -> Doc:
    return {
        "summary": f"{row.method.upper()} {row.path}",
        "description": row.notes,
        "responses": {
            "200": {
                "description": "Success.",
                "content": {"application/json": {"schema": {"type": "object"}, "example": {}}},
            }
        },
    }


def merge(spec: Doc, rows: list[Row], base: Doc, sdk: tuple[dict[str, Doc], dict[str, Any]] | None = None) -> list[str]:
    """Add every catalogue row missing from ``spec``; returns the keys added."""
    for key in ("openapi", "info", "servers", "tags"):
        spec.setdefault(key, copy.deepcopy(base.get(key)))
    components = spec.setdefault("components", {})
    for section, entries in (base.get("components") or {}).items():
        target = components.setdefault(section, {})
        for name, value in entries.items():
            target.setdefault(name, copy.deepcopy(value))
    existing = operations(spec)
    missing = [r for r in rows if r.key not in existing]
    if not missing:
        return []
    frag_ops, frag_schemas = load_fragments()
    if sdk is None and any(r.key not in frag_ops for r in missing):
        from codegen.sdk_spec import SdkSpecBuilder

        sdk = SdkSpecBuilder().build()
    sdk_ops, sdk_schemas = sdk or ({}, {})
    schemas = components.setdefault("schemas", {})
    for name, value in {**sdk_schemas, **frag_schemas}.items():
        schemas.setdefault(name, value)
    paths = spec.setdefault("paths", {})
    for row in missing:
        source = frag_ops.get(row.key) or sdk_ops.get(row.key) or skeleton(row)
        paths.setdefault(row.path, {})[row.method] = normalise(source, row)
    return [r.key for r in missing]


def import_catalogue(write: bool = True) -> tuple[list[str], str]:
    rows = parse(CATALOGUE)
    spec = load_yaml(SPEC) if SPEC.exists() else {}
    added = merge(spec, rows, load_yaml(SPEC_DIR / "base.yaml"))
    text = dump_yaml(spec)
    if write and added:
        SPEC.write_text(text, encoding="utf-8")
    return added, text
