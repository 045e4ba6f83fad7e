"""Build a realistic example value from an OpenAPI 3.0 schema: required fields, Anthropic-style ids, RFC 3339 times."""

from __future__ import annotations

from typing import Any

from codegen.oas30 import REF_PREFIX

TIMESTAMP = "2026-11-26T08:00:00Z"
ID_SUFFIX = "011CZkZaBF1tNoB5wlCeusgy"

# object `type` tag -> id prefix (../shared/reference/anthropic-api.md, Appendix A)
ID_PREFIXES = {
    "message": "msg",
    "message_batch": "msgbatch",
    "agent": "agent",
    "environment": "env",
    "session": "sesn",
    "vault": "vlt",
    "vault_credential": "vcrd",
    "memory_store": "memstore",
    "memory": "mem",
    "memory_version": "memver",
    "skill": "skill",
    "skill_version": "skillver",
    "file": "file",
    "user_profile": "uprof",
    "deployment": "depl",
    "deployment_run": "deplrun",
    "dream": "dream",
    "tunnel": "tunnel",
    "tunnel_certificate": "tcert",
    "session_thread": "sthr",
    "work": "work",
    "model": "claude-sonnet-5-5",
}

STRING_HINTS = {
    "model": "claude-sonnet-5-5",
    "name": "example",
    "display_name": "Example",
    "text": "Hello!",
    "role": "assistant",
    "description": "An example.",
    "mime_type": "text/plain",
    "filename": "example.txt",
    "url": "https://example.com/",
}


class ExampleBuilder:
    def __init__(self, components: dict[str, Any]) -> None:
        self.components = components

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            schema = self.components[schema["$ref"][len(REF_PREFIX) :]]
        return schema

    def build(self, schema: dict[str, Any], name: str = "", tag: str | None = None, depth: int = 0) -> Any:
        schema = self.resolve(schema)
        if depth > 12:
            return None
        if "allOf" in schema:
            merged: dict[str, Any] = {}
            for part in schema["allOf"]:
                resolved = self.resolve(part)
                all_props = {**merged.get("properties", {}), **resolved.get("properties", {})}
                all_required = [*merged.get("required", []), *resolved.get("required", [])]
                merged.update(resolved)
                if all_props:
                    merged["properties"] = all_props
                if all_required:
                    merged["required"] = list(dict.fromkeys(all_required))
            rest = {k: v for k, v in schema.items() if k != "allOf"}
            return self.build({**merged, **rest}, name, tag, depth + 1)
        for union in ("oneOf", "anyOf"):
            if union in schema:
                members = [self.resolve(m) for m in schema[union]]
                if name in STRING_HINTS and any(m.get("type") == "string" and "enum" not in m for m in members):
                    return STRING_HINTS[name]
                return self.build(schema[union][0], name, tag, depth + 1)
        if "enum" in schema:
            return schema["enum"][0]
        kind = schema.get("type")
        if kind == "object" or "properties" in schema:
            props: dict[str, Any] = schema.get("properties", {})
            own_tag = None
            type_prop = self.resolve(props.get("type", {})) if "type" in props else {}
            if type_prop.get("enum"):
                own_tag = str(type_prop["enum"][0])
            out: dict[str, Any] = {}
            for key in schema.get("required", []):
                out[key] = self.build(props.get(key, {}), key, own_tag, depth + 1)
            return out
        if kind == "array":
            if schema.get("minItems", 0) > 0 or depth < 4:
                return [self.build(schema.get("items", {}), name, None, depth + 1)]
            return []
        if kind == "integer":
            return int(schema.get("minimum", 1 if name in ("limit", "version") else 0))
        if kind == "number":
            return float(schema.get("minimum", 0))
        if kind == "boolean":
            return False
        if kind == "string":
            return self.string(schema, name, tag)
        if schema.get("nullable"):
            return None
        return {}

    def string(self, schema: dict[str, Any], name: str, tag: str | None) -> str:
        fmt = schema.get("format")
        if fmt == "date-time" or name.endswith("_at"):
            return TIMESTAMP
        if fmt == "date":
            return TIMESTAMP[:10]
        if fmt == "uri":
            return "https://example.com/"
        if fmt == "binary":
            return "example"
        if name == "id" and tag:
            prefix = ID_PREFIXES.get(tag, tag)
            return prefix if tag == "model" else f"{prefix}_{ID_SUFFIX}"
        if name.endswith("_id"):
            return f"{name[:-3]}_{ID_SUFFIX}"
        value = STRING_HINTS.get(name, "example")
        min_len = int(schema.get("minLength", 0))
        return value if len(value) >= min_len else value + "x" * (min_len - len(value))
