"""Turn pydantic's JSON Schema (2020-12 flavoured) into OpenAPI 3.0.3 schema objects.

What changes: ``const`` → one-value ``enum``; ``anyOf [X, null]`` → ``nullable``; numeric exclusive bounds → 3.0's
boolean form; unions of tagged objects → ``oneOf`` + ``discriminator``; keywords 3.0 lacks are dropped.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

DROP = {"title", "$schema", "propertyNames", "unevaluatedProperties", "prefixItems", "examples", "$comment"}
REF_PREFIX = "#/components/schemas/"


def _is_null(s: Any) -> bool:
    return isinstance(s, dict) and s.get("type") == "null" and len(s) == 1


def convert(schema: Any) -> Any:
    """Convert one schema (recursively)."""
    if isinstance(schema, list):
        return [convert(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: Schema = {}
    for key, value in schema.items():
        if key in DROP:
            continue
        if key == "const":
            out["enum"] = [value]
        elif key == "default" and value is None:
            continue
        elif key in ("properties", "patternProperties"):
            out[key] = {name: convert(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not"):
            out[key] = convert(value)
        elif key in ("anyOf", "oneOf", "allOf"):
            out[key] = [convert(s) for s in value]
        elif key == "exclusiveMinimum" and not isinstance(value, bool):
            out["minimum"], out["exclusiveMinimum"] = value, True
        elif key == "exclusiveMaximum" and not isinstance(value, bool):
            out["maximum"], out["exclusiveMaximum"] = value, True
        elif key == "type" and isinstance(value, list):
            types = [t for t in value if t != "null"]
            if "null" in value:
                out["nullable"] = True
            if len(types) == 1:
                out["type"] = types[0]
            else:
                out["anyOf"] = [{"type": t} for t in types]
        elif key == "discriminator":
            continue
        else:
            out[key] = value
    if "enum" in out and "type" not in out:
        kinds = {type(v).__name__ for v in out["enum"] if v is not None}
        if kinds == {"str"}:
            out["type"] = "string"
        elif kinds <= {"int"} and kinds:
            out["type"] = "integer"
        elif kinds == {"bool"}:
            out["type"] = "boolean"
    if None in out.get("enum", []):
        out["enum"] = [v for v in out["enum"] if v is not None]
        out["nullable"] = True
    for union in ("anyOf", "oneOf"):
        if union in out:
            members = [m for m in out[union] if not _is_null(m)]
            if len(members) != len(out[union]):
                out["nullable"] = True
            if len(members) == 1:
                only = members[0]
                del out[union]
                if "$ref" in only:
                    out.setdefault("allOf", []).append(only)
                else:
                    rest = {k: v for k, v in out.items() if k != "nullable"}
                    merged = {**only, **rest}
                    if out.get("nullable"):
                        merged["nullable"] = True
                    out = merged
            else:
                out[union] = members
    if "$ref" in out and len(out) > 1:  # 3.0 ignores siblings of $ref
        ref = out.pop("$ref")
        out.setdefault("allOf", []).insert(0, {"$ref": ref})
    return out


def string_union(schema: Schema) -> Schema:
    """A parameter typed as a union of strings (``Union[str, datetime]``: ``anyOf [string, date-time string]``) is a
    string on the wire: ``{type: string}``. (connexion 3.3 reads ``schema["type"]`` of every query parameter.)"""
    members = schema.get("anyOf") or schema.get("oneOf")
    if not members or not all(isinstance(m, dict) and m.get("type") == "string" for m in members):
        return schema
    out = {k: v for k, v in schema.items() if k not in ("anyOf", "oneOf")}
    out["type"] = "string"
    formats = {m.get("format") for m in members}
    if len(formats) == 1 and None not in formats:
        out["format"] = formats.pop()
    return out


def _tag_of(components: dict[str, Schema], member: Schema) -> str | None:
    ref = member.get("$ref")
    if not isinstance(ref, str) or not ref.startswith(REF_PREFIX):
        return None
    target = components.get(ref[len(REF_PREFIX) :], {})
    prop = target.get("properties", {}).get("type", {})
    enum = prop.get("enum")
    if "type" in target.get("required", []) and isinstance(enum, list) and len(enum) == 1:
        return str(enum[0])
    return None


def add_discriminators(node: Any, components: dict[str, Schema]) -> None:
    """Rewrite ``anyOf`` unions of refs whose targets carry distinct required ``type`` tags as a discriminated
    ``oneOf``."""
    if isinstance(node, list):
        for item in node:
            add_discriminators(item, components)
        return
    if not isinstance(node, dict):
        return
    for value in list(node.values()):
        add_discriminators(value, components)
    members = node.get("anyOf") or node.get("oneOf")
    if not members or len(members) < 2:
        return
    tags = [_tag_of(components, m) for m in members]
    if any(t is None for t in tags) or len(set(tags)) != len(tags):
        return
    node.pop("anyOf", None)
    node["oneOf"] = members
    mapping = {str(t): m["$ref"] for t, m in zip(tags, members, strict=True)}
    node["discriminator"] = {"propertyName": "type", "mapping": mapping}
