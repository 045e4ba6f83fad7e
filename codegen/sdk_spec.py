"""OpenAPI 3.0.3 operations and component schemas for the endpoints of the installed ``anthropic`` SDK."""

from __future__ import annotations

import collections.abc
import copy
import json
import re
import typing
from typing import Any

import typing_extensions
from pydantic import TypeAdapter

from codegen.examples import ExampleBuilder
from codegen.oas30 import REF_PREFIX, add_discriminators, convert, string_union
from codegen.sdk import Endpoint, Param, scan

# gateway resource -> (seed category tag, implementation-map group)
CATEGORIES: dict[str, tuple[str, str]] = {
    "messages": ("Messages API", "Messages"),
    "message_batches": ("Messages API", "Message Batches"),
    "models": ("Models API", "Models"),
    "files": ("Sessions & Code", "Files API"),
    "sessions": ("Sessions & Code", "Sessions (SDK)"),
    "session_events": ("Sessions & Code", "Sessions (SDK)"),
    "session_resources": ("Sessions & Code", "Sessions (SDK)"),
    "session_threads": ("Sessions & Code", "Sessions (SDK)"),
    "session_thread_events": ("Sessions & Code", "Sessions (SDK)"),
    "environments": ("Environments", "Environments (SDK)"),
    "environment_work": ("Environments", "Environments (SDK)"),
    "tunnels": ("Environments", "Tunnels (SDK)"),
    "tunnel_certificates": ("Environments", "Tunnels (SDK)"),
    "agents": ("Agents", "Agents (SDK)"),
    "agent_versions": ("Agents", "Agents (SDK)"),
    "deployments": ("Agents", "Deployments (SDK)"),
    "deployment_runs": ("Agents", "Deployments (SDK)"),
    "vaults": ("Agents", "Vaults (SDK)"),
    "vault_credentials": ("Agents", "Vaults (SDK)"),
    "memory_stores": ("Agents", "Memory Stores (SDK)"),
    "memories": ("Agents", "Memory Stores (SDK)"),
    "memory_versions": ("Agents", "Memory Stores (SDK)"),
    "skills": ("Agents", "Skills (SDK)"),
    "skill_versions": ("Agents", "Skills (SDK)"),
    "user_profiles": ("Agents", "User Profiles (SDK)"),
    "user_profile_action_urls": ("Agents", "User Profiles (SDK)"),
    "user_profile_data_controls": ("Agents", "User Profiles (SDK)"),
    "dreams": ("Agents", "Dreams (SDK, research preview)"),
    "usage_report": ("Keys", "Keys and spend"),
    "cost_report": ("Keys", "Keys and spend"),
}

PAGE_FIELDS: dict[str, tuple[dict[str, Any], list[str]]] = {
    "SyncPage": (
        {
            "has_more": {"type": "boolean"},
            "first_id": {"type": "string", "nullable": True},
            "last_id": {"type": "string", "nullable": True},
        },
        ["data", "has_more", "first_id", "last_id"],
    ),
    "SyncPageCursor": ({"next_page": {"type": "string", "nullable": True}}, ["data", "next_page"]),
    "SyncReportPageCursor": (
        {
            "next_page": {"type": "string", "nullable": True},
            "has_more": {"type": "boolean", "nullable": True},
            "data_refreshed_at": {"type": "string", "format": "date-time", "nullable": True},
        },
        ["data"],
    ),
    "SyncBidirectionalPageCursor": (
        {"next_page": {"type": "string", "nullable": True}, "prev_page": {"type": "string", "nullable": True}},
        ["data", "next_page", "prev_page"],
    ),
}

SSE_EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["event", "data"],
    "properties": {
        "event": {"type": "string"},
        "data": {"type": "string"},
        "id": {"type": "string"},
        "retry": {"type": "integer"},
    },
}


def _pascal(text: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[._]", text))


def _sanitize(annotation: Any) -> Any:
    """Make an SDK param annotation something pydantic can describe: files become bytes, iterables lists."""
    from anthropic._types import FileTypes

    if annotation == FileTypes:
        return bytes
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing_extensions.Annotated or origin is typing.Annotated:
        return typing_extensions.Annotated[(_sanitize(args[0]), *annotation.__metadata__)]
    if origin in (collections.abc.Iterable, collections.abc.Sequence) and args:
        return list[_sanitize(args[0])]  # type: ignore[misc]
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        # helper objects the SDK accepts client-side (protocols such as SupportsToDict) never reach the wire
        wire = [a for a in args if not getattr(a, "_is_protocol", False)]
        return typing.Union[tuple(_sanitize(a) for a in wire)]  # noqa: UP007 - built at run time
    if origin is list and args:
        return list[_sanitize(args[0])]  # type: ignore[misc]
    return annotation


def _body_type(name: str, params: list[Param]) -> Any:
    fields: dict[str, Any] = {}
    for p in params:
        ann = _sanitize(p.annotation)
        fields[p.wire] = typing_extensions.Required[ann] if p.required else typing_extensions.NotRequired[ann]
    return typing_extensions.TypedDict(name, fields)  # type: ignore[operator]


class SdkSpecBuilder:
    """Collects every type first, then asks pydantic for all schemas in one pass (consistent, collision-free names)."""

    def __init__(self) -> None:
        self.endpoints = scan()
        self.inputs: list[tuple[str, Any]] = []  # (key, python type)

    def _want(self, key: str, annotation: Any) -> str:
        self.inputs.append((key, annotation))
        return key

    def build(self) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
        """Return ({'METHOD path': operation}, component schemas)."""
        plans = [self._plan(ep) for ep in self.endpoints]
        adapters = [(key, "validation", TypeAdapter(t)) for key, t in self.inputs]
        mapping, defs = TypeAdapter.json_schemas(adapters, ref_template=REF_PREFIX + "{model}")  # type: ignore[arg-type]
        components = {name: convert(schema) for name, schema in defs.get("$defs", {}).items()}
        schemas = {key: convert(schema) for (key, _mode), schema in mapping.items()}
        add_discriminators(components, components)
        add_discriminators(schemas, components)
        examples = ExampleBuilder(components)
        operations = {}
        for ep, plan in zip(self.endpoints, plans, strict=True):
            operations[f"{ep.method.upper()} {ep.path}"] = self._operation(ep, plan, schemas, components, examples)
        return operations, components

    def _plan(self, ep: Endpoint) -> dict[str, Any]:
        v = ep.primary
        oid = _pascal(ep.operation_id.split(".", 1)[1])
        plan: dict[str, Any] = {"params": []}
        for kind, params in (("path", v.path_params), ("query", v.query), ("header", v.headers)):
            for p in params:
                ann = _sanitize(p.annotation)
                wire = p.wire
                if kind == "query" and typing.get_origin(ann) is list:
                    wire += "[]"
                plan["params"].append((kind, wire, p, self._want(f"{oid}.{kind}.{wire}", ann)))
        if v.body:
            plan["body"] = self._want(f"{oid}.body", _body_type(f"{oid}Body", v.body))
        if v.response is not None and not v.binary:
            # stable and beta models of a shared path can differ (GA UserProfile requires more fields): keep every
            # variant's schema and later serve the first whose example every variant's model accepts
            plan["responses"] = [
                (self._want(f"{oid}.response.{i}", x.response), x.response)
                for i, x in enumerate(ep.variants)
                if x.response is not None
            ]
        if v.stream_event is not None:
            plan["events"] = self._want(f"{oid}.events", v.stream_event)
        return plan

    def _operation(
        self,
        ep: Endpoint,
        plan: dict[str, Any],
        schemas: dict[str, Any],
        components: dict[str, Any],
        examples: ExampleBuilder,
    ) -> dict[str, Any]:
        v = ep.primary
        tag, group = CATEGORIES[ep.resource]
        doc = v.doc.split("\n\nArgs:")[0].strip()
        summary = doc.splitlines()[0].strip() if doc else f"{ep.resource} {ep.verb}"
        calls = sorted({f"client.{'beta.' if x.beta else ''}{_sdk_attr(x.module)}.{x.method}" for x in ep.variants})
        op: dict[str, Any] = {
            "operationId": ep.operation_id,
            "x-implementation": ep.status,
            "x-group": group,
            "x-sdk": calls,
            "tags": [tag],
            "summary": summary,
            "description": doc,
        }
        params = []
        for kind, wire, p, key in plan["params"]:
            schema = string_union(schemas[key]) if kind != "path" else schemas[key]
            entry: dict[str, Any] = {
                "name": wire,
                "in": kind,
                "required": kind == "path" or p.required,
                "schema": schema,
            }
            if kind == "query" and wire.endswith("[]"):
                entry["style"], entry["explode"] = "form", True
            params.append(entry)
        op["parameters"] = params
        if "body" in plan:
            body_schema = schemas[plan["body"]]
            resolved = components[body_schema["$ref"][len(REF_PREFIX) :]] if "$ref" in body_schema else body_schema
            if v.multipart:
                body_schema = copy.deepcopy(resolved)
                props = body_schema.get("properties", {})
                for name in list(props):
                    if props[name].get("type") == "array":
                        # the SDK sends one part per file named `files[]`; an upload of no file is not an upload
                        props[f"{name}[]"] = {**props.pop(name), "minItems": 1}
                        if name in body_schema.get("required", []):
                            body_schema["required"] = [f"{name}[]" if r == name else r for r in body_schema["required"]]
                content = {"multipart/form-data": {"schema": body_schema}}
            else:
                content = {"application/json": {"schema": body_schema}}
            op["requestBody"] = {"required": bool(resolved.get("required")), "content": content}
        op["responses"] = {"200": self._response(ep, plan, schemas, examples)}
        return op

    def _response(self, ep: Endpoint, plan: dict[str, Any], schemas: dict[str, Any], ex: ExampleBuilder) -> Any:
        v = ep.primary
        if v.binary:
            return {
                "description": "The file content, streamed.",
                "content": {
                    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}, "example": "..."}
                },
            }
        item = self._common_response(plan["responses"], schemas, ex)
        if ep.resource == "message_batches" and ep.verb == "results":
            line = ex.build(item)
            return {
                "description": "JSON Lines: one result object per request of the batch.",
                "content": {
                    "application/binary": {
                        "schema": {"type": "string", "format": "binary"},
                        "example": json.dumps(line) + "\n",
                    }
                },
            }
        if v.page:
            extra, required = PAGE_FIELDS[v.page]
            schema: dict[str, Any] = {
                "type": "object",
                "required": required,
                "properties": {"data": {"type": "array", "items": item}, **extra},
            }
            first = ex.build(item)
            example: Any = {"data": [first]}
            if v.page == "SyncPage":
                fid = first.get("id") if isinstance(first, dict) else None
                example.update(has_more=False, first_id=fid, last_id=fid)
            else:
                example["next_page"] = None
                if v.page == "SyncBidirectionalPageCursor":
                    example["prev_page"] = None
        else:
            schema = item
            if v.optional_response:
                schema = {"nullable": True, "allOf": [item]} if "$ref" in item else {**item, "nullable": True}
            example = ex.build(item)
        content: dict[str, Any] = {"application/json": {"schema": schema, "example": example}}
        if "events" in plan:
            sse = dict(SSE_EVENT_SCHEMA)
            tags = _event_tags(schemas[plan["events"]], ex)
            if tags:
                sse = {**sse, "properties": {**sse["properties"], "event": {"type": "string", "enum": tags}}}
            event = ex.build(schemas[plan["events"]])
            sse_example = {"event": event.get("type", "message"), "data": json.dumps(event)}
            content["text/event-stream"] = {"schema": sse, "example": sse_example}
            if ep.resource != "messages":  # event streams only answer SSE
                content = {"text/event-stream": content["text/event-stream"]}
        return {"description": "Success.", "content": content}

    @staticmethod
    def _common_response(candidates: list[tuple[str, Any]], schemas: dict[str, Any], ex: ExampleBuilder) -> Any:
        options = [schemas[key] for key, _m in candidates]
        if len(options) > 1:  # last resort: a response both generations accept must satisfy both schemas
            options.append({"allOf": [schemas[key] for key, _m in candidates]})
        for schema in options:
            example = json.dumps(ex.build(schema))
            try:
                for _k, other in candidates:
                    TypeAdapter(other).validate_json(example, strict=True)
            except ValueError:
                continue
            return schema
        raise ValueError(f"no response schema satisfies every SDK variant: {[k for k, _m in candidates]}")


def _event_tags(schema: dict[str, Any], ex: ExampleBuilder) -> list[str]:
    members = schema.get("oneOf") or schema.get("anyOf") or []
    tags: list[str] = []
    for m in members:
        target = ex.resolve(m)
        enum = target.get("properties", {}).get("type", {}).get("enum", [])
        tags.extend(str(e) for e in enum)
    if tags:
        tags += ["ping", "error"]
    return sorted(set(tags))


def _sdk_attr(module: str) -> str:
    parts = [p for p in module.split("/") if p != "beta"]
    if len(parts) >= 2 and parts[-1] == parts[-2]:
        parts = parts[:-1]
    return ".".join(parts)
