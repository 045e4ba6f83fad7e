"""Every SDK operation's response example in spec/openapi.yaml parses with the anthropic package's own types.

The SDK's pydantic models are the ground truth for shapes: each example is validated twice, once with pydantic in
strict JSON mode and once the way the SDK validates responses when `_strict_response_validation=True`.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from anthropic import pagination
from anthropic._models import validate_type
from pydantic import TypeAdapter

from codegen.sdk import Endpoint, Variant, scan
from codegen.spec import SPEC, load_yaml, operations

ENDPOINTS = scan()
SPEC_OPS = operations(load_yaml(SPEC))


def _type_of(variant: Variant) -> Any:
    if variant.page:
        return getattr(pagination, variant.page)[variant.response]
    return variant.response


def _example(ep: Endpoint) -> tuple[str, Any]:
    _m, _p, op = SPEC_OPS[f"{ep.method.upper()} {ep.path}"]
    content = op["responses"]["200"]["content"]
    media = next((m for m in content if m != "text/event-stream"), "text/event-stream")
    return media, content[media].get("example")


def _stream_example(ep: Endpoint) -> Any:
    _m, _p, op = SPEC_OPS[f"{ep.method.upper()} {ep.path}"]
    return op["responses"]["200"]["content"]["text/event-stream"].get("example")


def test_every_sdk_endpoint_is_in_the_spec() -> None:
    missing = [f"{ep.method.upper()} {ep.path}" for ep in ENDPOINTS if f"{ep.method.upper()} {ep.path}" not in SPEC_OPS]
    assert not missing
    assert len(ENDPOINTS) >= 120


@pytest.mark.parametrize("ep", [e for e in ENDPOINTS if not e.primary.binary], ids=lambda e: e.operation_id)
def test_response_example_parses_with_sdk_types(ep: Endpoint) -> None:
    media, example = _example(ep)
    assert example is not None, f"{ep.operation_id}: no example for {media}"
    if media == "application/binary":
        values = [json.loads(line) for line in example.splitlines()]
    elif media == "text/event-stream":
        values = []  # the stream test below covers it
    else:
        values = [example]
    for variant in ep.variants:
        if variant.response is None:
            continue
        model = _type_of(variant)
        for value in values:
            TypeAdapter(model).validate_json(json.dumps(value), strict=True)
            parsed = validate_type(type_=model, value=value)
            assert parsed is not None


@pytest.mark.parametrize("ep", [e for e in ENDPOINTS if e.primary.binary], ids=lambda e: e.operation_id)
def test_binary_responses_are_documented_as_binary(ep: Endpoint) -> None:
    media, example = _example(ep)
    assert media == "application/octet-stream"
    assert isinstance(example, str)


@pytest.mark.parametrize("ep", [e for e in ENDPOINTS if e.primary.stream_event], ids=lambda e: e.operation_id)
def test_stream_event_example_parses_with_sdk_types(ep: Endpoint) -> None:
    example = _stream_example(ep)
    assert example is not None and example["event"]
    data = json.loads(example["data"])
    assert data["type"] == example["event"]
    for variant in ep.variants:
        if variant.stream_event is not None:
            TypeAdapter(variant.stream_event).validate_json(example["data"], strict=True)
            validate_type(type_=variant.stream_event, value=data)
