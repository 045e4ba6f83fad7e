"""The OAS 3.0 -> JSON Schema conversion and the jsonschema-rs validator pieces."""

from __future__ import annotations

from typing import Any

import jsonschema_rs
import pytest
from connexion.datastructures import MediaTypeDict

from gateway.validation import (
    RustJSONBodyValidator,
    compiled_validator,
    describe,
    is_uuid,
    oas30_to_json_schema,
    validator_map,
)


def errors(schema: dict[str, Any], instance: Any) -> list[str]:
    return [e.message for e in compiled_validator(schema).iter_errors(instance)]


def test_nullable_with_type_becomes_a_type_union() -> None:
    assert oas30_to_json_schema({"type": "string", "nullable": True}) == {"type": ["string", "null"]}
    assert oas30_to_json_schema({"type": "string", "nullable": False}) == {"type": "string"}


def test_nullable_enum_accepts_null() -> None:
    schema = {"type": "string", "enum": ["a", "b"], "nullable": True}
    assert oas30_to_json_schema(schema) == {"type": ["string", "null"], "enum": ["a", "b", None]}
    assert errors(schema, None) == []
    assert errors(schema, "c")


def test_nullable_without_type_wraps_in_any_of() -> None:
    inner = {"type": "object", "required": ["id"]}
    schema = {"nullable": True, "allOf": [inner]}
    assert oas30_to_json_schema(schema) == {"anyOf": [{"allOf": [inner]}, {"type": "null"}]}
    assert errors(schema, None) == []
    assert errors(schema, {})


def test_nullable_inside_one_of_and_items_and_discriminator_dropped() -> None:
    schema = {
        "type": "object",
        "properties": {
            "p": {
                "oneOf": [{"type": "string", "nullable": True}, {"type": "integer"}],
                "discriminator": {"propertyName": "type"},
            },
            "list": {"type": "array", "items": {"type": "integer", "nullable": True}},
            # property *names* that look like keywords are kept
            "nullable": {"type": "boolean"},
            "discriminator": {"type": "string"},
        },
    }
    converted = oas30_to_json_schema(schema)
    assert "discriminator" not in converted["properties"]["p"]
    assert converted["properties"]["p"]["oneOf"][0] == {"type": ["string", "null"]}
    assert converted["properties"]["list"]["items"] == {"type": ["integer", "null"]}
    assert set(converted["properties"]) == {"p", "list", "nullable", "discriminator"}
    assert errors(schema, {"p": None, "list": [1, None], "nullable": True, "discriminator": "x"}) == []
    assert errors(schema, {"nullable": "yes"})


def test_shared_subschemas_convert_once_and_cycles_terminate() -> None:
    shared = {"type": "string", "nullable": True}
    schema: dict[str, Any] = {"type": "object", "properties": {"a": shared, "b": shared}}
    converted = oas30_to_json_schema(schema)
    assert converted["properties"]["a"] is converted["properties"]["b"]
    cyclic: dict[str, Any] = {"type": "object", "properties": {}}
    cyclic["properties"]["self"] = cyclic
    assert oas30_to_json_schema(cyclic)["properties"]["self"] == {}


def test_uuid_format_is_enforced() -> None:
    assert is_uuid("123e4567-e89b-12d3-a456-426614174000")
    assert not is_uuid("123e4567e89b12d3a456426614174000")
    schema = {"type": "string", "format": "uuid"}
    assert errors(schema, "123e4567-e89b-12d3-a456-426614174000") == []
    assert errors(schema, "not-a-uuid")


def test_compiled_validators_are_cached_and_shared_by_equal_schemas() -> None:
    schema = {"type": "integer"}
    assert compiled_validator(schema) is compiled_validator(schema)
    # another app in the same process (tests) has equal schema objects: they share one compiled validator
    assert compiled_validator(schema) is compiled_validator({"type": "integer"})
    assert compiled_validator(schema) is not compiled_validator({"type": "string"})


def test_describe_shortens_long_instances_and_adds_the_path() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "object", "properties": {"b": {"type": "integer"}}}}}
    error = next(compiled_validator(schema).iter_errors({"a": {"b": "y" * 1000}}))
    message = describe(error)
    assert message.endswith(" - 'a.b'")
    assert len(message) < 260
    root = next(compiled_validator({"type": "object"}).iter_errors([1]))
    assert " - '" not in describe(root)


def test_describe_picks_the_branch_the_client_meant() -> None:
    schema = {
        "oneOf": [
            {"type": "object", "required": ["type", "text"], "properties": {"type": {"enum": ["text"]}}},
            {
                "type": "object",
                "required": ["type", "value"],
                "properties": {"type": {"enum": ["number"]}, "value": {"type": "number"}},
            },
        ]
    }
    error = next(compiled_validator(schema).iter_errors({"type": "number", "value": "x"}))
    assert isinstance(error, jsonschema_rs.ValidationError)
    assert describe(error) == "a string is not of type \"number\" - 'value'"


@pytest.mark.parametrize(
    "instance",
    [
        {"auth": {"type": "bogus", "token": "tok-SECRET-1"}},
        {"auth": {"token": "tok-SECRET-1", "type": "bogus"}},
        {"auth": {"type": "bearer", "token": 9876543210123}},
        {"auth": {"type": "bearer", "token": "tok-SECRET-1-" + "x" * 300}},
    ],
)
def test_describe_never_quotes_the_offending_value(instance: dict[str, object]) -> None:
    """Write-only fields (vault credential tokens) may be what failed validation: the message names the place and
    the JSON type, never the value."""
    schema = {
        "type": "object",
        "properties": {
            "auth": {
                "oneOf": [
                    {
                        "type": "object",
                        "required": ["type", "token"],
                        "properties": {"type": {"enum": ["bearer"]}, "token": {"type": "string", "maxLength": 64}},
                    }
                ]
            }
        },
    }
    errors = list(compiled_validator(schema).iter_errors(instance))
    assert errors
    for error in errors:
        message = describe(error)
        assert "SECRET" not in message and "9876543210123" not in message, message
        assert "'auth" in message


def test_validator_map_keeps_a_media_type_dict() -> None:
    body = validator_map(max_json_depth=7)["body"]
    assert isinstance(body, MediaTypeDict)
    json_validator = body["application/json"]
    assert issubclass(json_validator, RustJSONBodyValidator) and json_validator.max_json_depth == 7
    assert body["application/vnd.custom+json"] is json_validator
    assert not issubclass(body["multipart/form-data"], RustJSONBodyValidator)


@pytest.mark.parametrize("bad", ["{", "[1,]", "NaN", '{"a": Infinity}'])
def test_invalid_json_documents_are_rejected(bad: str) -> None:
    from connexion.exceptions import BadRequestProblem

    from gateway.validation import parse_json_body

    with pytest.raises(BadRequestProblem):
        parse_json_body(bad.encode())


def test_big_integers_are_accepted() -> None:
    from gateway.validation import parse_json_body

    assert parse_json_body(b'{"seed": 123456789012345678901234567890}') == {"seed": 123456789012345678901234567890}
