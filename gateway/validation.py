"""Request validation plugged into connexion: a jsonschema-rs JSON body validator and terser parameter messages.

connexion's stock JSON body validator uses python-jsonschema (~0.7 ms per 2 KB body), ignores ``format: uuid``,
answers 500 to a non-UTF-8 body and rejects chunked bodies (no Content-Length) as missing. This one fixes all four.
Use :func:`validator_map` for ``add_api(validator_map=...)``: the body entry must stay a ``MediaTypeDict``, a plain
dict silently disables body validation.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import zlib
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import jsonschema_rs
import orjson
from connexion.datastructures import MediaTypeDict
from connexion.exceptions import BadRequestProblem, NonConformingResponseBody
from connexion.middleware.request_validation import RequestValidationMiddleware
from connexion.middleware.response_validation import (
    ResponseValidationAPI,
    ResponseValidationMiddleware,
    ResponseValidationOperation,
)
from connexion.validators import (
    VALIDATOR_MAP,
    JSONRequestBodyValidator,
    JSONResponseBodyValidator,
    MultiPartFormDataValidator,
    ParameterValidator,
)
from starlette.datastructures import Headers
from starlette.types import Message, Receive, Scope, Send

from gateway.limits import Limits
from gateway.middleware import UPLOAD_PATH

logger = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 400
MAX_COMPILED = 4096
DEFAULT_MAX_JSON_DEPTH = Limits.max_json_depth
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# keywords whose value is one schema / a list of schemas / a name -> schema mapping
_SUBSCHEMA = ("items", "additionalItems", "additionalProperties", "not")
_SUBSCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "items")
_SUBSCHEMA_MAPS = ("properties", "patternProperties", "definitions")
# OpenAPI 3.0 keywords with no JSON Schema meaning
_DROPPED = frozenset({"nullable", "x-nullable", "discriminator"})
_EMPTY = object()  # an absent body, as opposed to a JSON ``null``


def is_uuid(value: Any) -> bool:
    """``format: uuid``: the canonical 8-4-4-4-12 hexadecimal form."""
    return not isinstance(value, str) or bool(_UUID.match(value))


def oas30_to_json_schema(schema: Any) -> Any:
    """Rewrite an OpenAPI 3.0 schema into Draft 4 JSON Schema: connexion's copy (every ``$ref`` inlined) or the spec
    as written (a ``$ref`` is kept as it is; the schemas it names are converted by :func:`register_bodies`).

    ``nullable: true`` becomes a ``type`` union with ``"null"`` (and adds ``null`` to an ``enum``); on a schema
    without ``type`` (``allOf``/``oneOf``/``$ref``-style) it becomes ``anyOf: [<schema>, {type: null}]``.
    ``discriminator`` is dropped (it only selects among ``oneOf`` branches, which are validated anyway).
    Shared sub-schemas are converted once; a reference cycle is cut with ``{}``.
    """
    return _Converter().convert(schema)


class _Converter:
    def __init__(self) -> None:
        self.done: dict[int, Any] = {}
        self.active: set[int] = set()

    def convert(self, schema: Any) -> Any:
        if not isinstance(schema, Mapping):
            return schema
        key = id(schema)
        if key in self.done:
            return self.done[key]
        if key in self.active:
            logger.warning("recursive schema cut during conversion; the recursive part is not validated")
            return {}
        self.active.add(key)
        try:
            result = self._convert(schema)
        finally:
            self.active.discard(key)
        self.done[key] = result
        return result

    def _convert(self, schema: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in schema.items():
            if k in _DROPPED:
                continue
            if k in _SUBSCHEMA_LISTS and isinstance(v, list):
                out[k] = [self.convert(s) for s in v]
            elif k in _SUBSCHEMA_MAPS and isinstance(v, Mapping):
                out[k] = {name: self.convert(s) for name, s in v.items()}
            elif k in _SUBSCHEMA:
                out[k] = self.convert(v)
            else:
                out[k] = v
        if not (schema.get("nullable") is True or schema.get("x-nullable") is True):
            return out
        if "enum" in out and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
        stype = out.get("type")
        if isinstance(stype, str):
            out["type"] = [stype, "null"]
            return out
        if isinstance(stype, list):
            out["type"] = stype if "null" in stype else [*stype, "null"]
            return out
        if "enum" in out and len(out) == 1:
            return out
        return {"anyOf": [out, {"type": "null"}]}


_COMPILED: dict[int, tuple[Any, jsonschema_rs.Validator]] = {}
_BY_CONTENT: dict[bytes, jsonschema_rs.Validator] = {}
#: the URI under which a spec's converted ``components`` are registered with jsonschema-rs
SPEC_URI = "urn:litellm-gateway:spec"


@dataclass(frozen=True)
class _Components:
    """A spec's ``components``, converted to Draft 4 once and registered with jsonschema-rs, which every body
    validator of that spec resolves its ``$ref``s against (compiled once, not once per validator)."""

    registry: jsonschema_rs.Registry
    digest: bytes


#: id(a spec's written ``components``) -> (that mapping, its registration); a few specs per process at most
_SPEC_COMPONENTS: dict[int, tuple[Any, _Components]] = {}
#: id(connexion's body schema) -> (that schema, the body schema as the spec writes it, its spec's components)
_WRITTEN: dict[int, tuple[Any, Any, _Components]] = {}


def _components(written: Mapping[str, Any]) -> _Components:
    entry = _SPEC_COMPONENTS.get(id(written))
    if entry is not None and entry[0] is written:
        return entry[1]
    converter = _Converter()  # one for all the schemas: shared sub-schemas are converted once
    schemas = {name: converter.convert(one) for name, one in (written.get("schemas") or {}).items()}
    converted = {**written, "schemas": schemas}
    digest = hashlib.sha256(orjson.dumps(converted, option=orjson.OPT_SORT_KEYS, default=str)).digest()
    registry = jsonschema_rs.Registry([(SPEC_URI, {"components": converted})], draft=jsonschema_rs.Draft4)
    if len(_SPEC_COMPONENTS) >= 8:  # only reached when a process builds apps from many specs (tests)
        _SPEC_COMPONENTS.clear()
    components = _Components(registry, digest)
    _SPEC_COMPONENTS[id(written)] = (written, components)
    return components


def _pointed(schema: Any) -> Any:
    """``schema`` with its local ``$ref``s (``#/components/...``) pointing into the registered spec."""
    if isinstance(schema, Mapping):
        return {
            k: SPEC_URI + v if k == "$ref" and isinstance(v, str) and v.startswith("#/") else _pointed(v)
            for k, v in schema.items()
        }
    if isinstance(schema, list):
        return [_pointed(v) for v in schema]
    return schema


def compiled_validator(schema: Mapping[str, Any]) -> jsonschema_rs.Validator:
    """The jsonschema-rs validator for a connexion body schema, built once per schema object.

    connexion keeps one schema dict per operation for the life of the app; the caches hold a reference to it so
    its ``id`` cannot be reused. A body registered by :func:`register_bodies` is compiled as the spec writes it,
    ``$ref``s kept and resolved by jsonschema-rs against the spec's registered ``components``: connexion's copy has
    every reference inlined, and compiling that repeats each shared schema wherever it is used (the Messages body:
    28 MiB and 55 ms inlined; with its references a few milliseconds, the shared components once per spec).
    """
    entry = _COMPILED.get(id(schema))
    if entry is not None and entry[0] is schema:
        return entry[1]
    written = _WRITTEN.get(id(schema))
    registry: jsonschema_rs.Registry | None = None
    if written is not None and written[0] is schema:
        _, body, components = written
        content = b"written:" + components.digest + orjson.dumps(body, option=orjson.OPT_SORT_KEYS, default=str)
        registry = components.registry
    else:
        # connexion attaches the whole spec's ``components`` to every body schema (for references it has already
        # inlined): compiled with it, each validator held its own copy of the 7 MB section (measured: 53 body
        # validators took 31 s and 4.6 GiB; without it, 0.2 s and 1 MiB)
        body = {k: v for k, v in schema.items() if k != "components"}
        content = orjson.dumps(body, option=orjson.OPT_SORT_KEYS, default=str)
    # a second app in the same process (tests) has equal schemas: share their compiled validators
    validator = _BY_CONTENT.get(content)
    if validator is None:
        source = oas30_to_json_schema(body)
        validator = jsonschema_rs.Draft4Validator(
            source if registry is None else _pointed(source),
            validate_formats=True,
            formats={"uuid": is_uuid},
            registry=registry,
        )
        if len(_BY_CONTENT) >= MAX_COMPILED:
            _BY_CONTENT.clear()
        _BY_CONTENT[content] = validator
    if len(_COMPILED) >= MAX_COMPILED:  # only reached when many apps are built in one process (tests)
        _COMPILED.clear()
    _COMPILED[id(schema)] = (schema, validator)
    return validator


def _request_operations(stack: Iterable[Any]) -> Iterable[tuple[str, Any]]:
    """(operation id, connexion's spec operation) of every operation of the request validation layer."""
    for layer in stack:
        if not isinstance(layer, RequestValidationMiddleware):
            continue
        for api in (api for apis in layer.apis.values() for api in apis):
            for operation_id, operation in api.operations.items():
                spec_operation = getattr(operation, "_operation", None)
                if spec_operation is not None:
                    yield operation_id, spec_operation


def register_bodies(stack: Iterable[Any], doc: Mapping[str, Any]) -> int:
    """Tell :func:`compiled_validator` how ``doc`` (the spec as written) states each JSON request body of
    connexion's built middleware ``stack``. Returns how many were registered."""
    components = _components(doc.get("components") or {})
    registered = 0
    for _operation_id, spec_operation in _request_operations(stack):
        schema = spec_operation.body_schema("application/json")
        item = (doc.get("paths") or {}).get(getattr(spec_operation, "path", None)) or {}
        written = (
            (((item.get(getattr(spec_operation, "method", "")) or {}).get("requestBody") or {}).get("content") or {})
            .get("application/json", {})
            .get("schema")
        )
        if schema and isinstance(written, Mapping):
            if len(_WRITTEN) >= MAX_COMPILED:  # only reached when many apps are built in one process (tests)
                _WRITTEN.clear()
            _WRITTEN[id(schema)] = (schema, written, components)
            registered += 1
    return registered


def precompile_bodies(stack: Iterable[Any], operation_ids: Collection[str]) -> int:
    """Compile the JSON body validators of ``operation_ids`` now (``stack``: connexion's built middleware stack),
    so their first request does not pay for it. Returns how many were compiled."""
    compiled = 0
    for operation_id, spec_operation in _request_operations(stack):
        # connexion keys operations by the resolved handler name (``<handlers package>.<operationId>``)
        if not any(operation_id == o or operation_id.endswith("." + o) for o in operation_ids):
            continue
        schema = spec_operation.body_schema("application/json")
        if schema:
            compiled_validator(schema)
            compiled += 1
    return compiled


def most_relevant(error: jsonschema_rs.ValidationError) -> jsonschema_rs.ValidationError:
    """For a failed ``anyOf``/``oneOf``, the error inside the one branch the client evidently meant, if any.

    A branch is ruled out when the instance has the wrong type for it, or when one of its direct properties fails an
    ``enum`` (a ``type`` tag naming another variant). With exactly one branch left, its first error is far more useful
    than "is not valid under any of the schemas"; otherwise the generic error stays.
    """
    kinds = (jsonschema_rs.ValidationErrorKind.AnyOf, jsonschema_rs.ValidationErrorKind.OneOfNotValid)
    while isinstance(error.kind, kinds):
        depth = len(error.instance_path)
        candidates = [branch for branch in error.kind.context if branch and not _rules_out(branch, depth)]
        if len(candidates) != 1:
            break
        error = candidates[0][0]
    return error


def _rules_out(branch: list[jsonschema_rs.ValidationError], depth: int) -> bool:
    for e in branch:
        name, at = e.kind.name, len(e.instance_path)
        if (name == "type" and at == depth) or (name == "enum" and at == depth + 1):
            return True
    return False


def describe(error: jsonschema_rs.ValidationError) -> str:
    """A short message: jsonschema-rs's text plus `` - 'json.path'`` unless at the root. The offending value itself
    is never quoted (it may be a secret, e.g. a vault credential's token): it is named by its JSON type."""
    error = most_relevant(error)
    message = error.message
    rendered = _render(error.instance)
    try:  # jsonschema-rs starts most messages with the instance (its own rendering: key order may differ)
        leading, end = _DECODER.raw_decode(message)
    except ValueError:
        leading, end = None, 0
    if end and leading == error.instance:
        message = _json_type(error.instance) + message[end:]
    elif rendered is not None and len(rendered) > 3 and rendered in message:
        message = message.replace(rendered, _json_type(error.instance))
    if len(message) > MAX_MESSAGE_CHARS:
        message = message[:MAX_MESSAGE_CHARS] + "…"
    if error.instance_path:
        message += " - '" + ".".join(str(p) for p in error.instance_path) + "'"
    return message


_DECODER = json.JSONDecoder()


def _json_type(instance: Any) -> str:
    if isinstance(instance, bool):
        return "a boolean"
    if isinstance(instance, int | float):
        return "a number"
    if isinstance(instance, str):
        return "a string"
    if isinstance(instance, list):
        return "an array"
    if instance is None:
        return "null"
    return "an object"


def _render(instance: Any) -> str | None:
    try:
        return orjson.dumps(instance).decode()
    except TypeError:
        return None


def parse_json_body(data: bytes, max_depth: int = DEFAULT_MAX_JSON_DEPTH) -> Any:
    """Parse a request body: ``_EMPTY`` for no bytes; 400 for non-UTF-8 or invalid JSON, or arrays/objects nested
    deeper than ``max_depth``."""
    if not data:
        return _EMPTY
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequestProblem(detail="request body is not valid UTF-8") from None
    too_deep = f"request body is nested too deeply: at most {max_depth} levels of arrays and objects are accepted"
    try:  # the stdlib, not orjson: orjson turns integers beyond 64 bits into floats; connexion re-parses with it too
        value = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:  # the C scanner's own guard, far beyond max_depth
        raise BadRequestProblem(detail=too_deep) from None
    except ValueError as exc:
        raise BadRequestProblem(detail=f"request body is not valid JSON: {exc}") from None
    if data.count(b"[") + data.count(b"{") > max_depth and json_depth(value) > max_depth:
        raise BadRequestProblem(detail=too_deep)
    if _SURROGATE_ESCAPE.search(text) is not None:  # rare: only then pay for the full check
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise BadRequestProblem(
                detail="request body is not valid Unicode: it contains an unpaired UTF-16 surrogate escape"
            ) from None
    return value


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def json_depth(value: Any) -> int:
    """Nesting depth of arrays and objects in a parsed JSON value (a scalar is 0, ``[]`` is 1), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        depth += 1
        deepest = max(deepest, depth)
        stack.extend((child, depth) for child in children if isinstance(child, dict | list))
    return deepest


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


class RustJSONBodyValidator(JSONRequestBodyValidator):  # type: ignore[misc]
    """connexion JSON body validator backed by jsonschema-rs."""

    async def wrap_receive(self, receive: Receive, *, scope: Scope) -> tuple[Receive, Scope]:
        headers = Headers(scope=scope)
        if "content-length" not in headers and "transfer-encoding" in headers:
            # A chunked body: read it (the body-size middleware bounds this) and replay it with a Content-Length,
            # since connexion treats a request without Content-Length as having no body.
            messages, size = await _drain(receive)
            receive = self._insert_messages(receive, messages=messages)
            scope = _with_content_length(scope, size)
            headers = Headers(scope=scope)
        if self._required and headers.get("content-length", "0") == "0" and self._schema.get("default") is None:
            raise BadRequestProblem(detail="request body is required")
        result: tuple[Receive, Scope] = await super().wrap_receive(receive, scope=scope)
        return result

    max_json_depth = DEFAULT_MAX_JSON_DEPTH

    async def _parse(self, stream: Any, scope: Scope) -> Any:
        data = b"".join([chunk async for chunk in stream])
        return parse_json_body(data, self.max_json_depth)

    def _validate(self, body: Any) -> None:
        if body is _EMPTY:
            if self._required:
                raise BadRequestProblem(detail="request body is required")
            return None
        validator = compiled_validator(self._schema)
        if not validator.is_valid(body):
            # validate() stops at the first error; iter_errors() would compute them all (seconds for a body with
            # tens of thousands of array items) to use one
            try:
                validator.validate(body)
            except jsonschema_rs.ValidationError as error:
                raise BadRequestProblem(detail=describe(error)) from None
        check_metadata_keys(body, self._schema)
        return None


# Anthropic's documented limits on stored resources (agents: name 1-256 characters, description <= 2048, system
# <= 100,000; metadata <= 16 pairs, keys <= 64 and values <= 512 characters) are in the contract as maxLength /
# maxProperties. The one OpenAPI 3.0 cannot state (no propertyNames) is checked here, on every metadata map whose
# schema has a maxProperties (those of stored resources; a Messages request's metadata has none).
METADATA_MAX_KEY_CHARS = 64


def check_metadata_keys(body: Any, schema: Mapping[str, Any]) -> None:
    """400 when a top-level ``metadata`` map of a stored resource has a key over 64 characters."""
    metadata = body.get("metadata") if isinstance(body, dict) else None
    declared = (schema.get("properties") or {}).get("metadata")
    if not isinstance(metadata, Mapping) or not isinstance(declared, Mapping) or "maxProperties" not in declared:
        return
    if any(len(key) > METADATA_MAX_KEY_CHARS for key in metadata):
        raise BadRequestProblem(detail=f"metadata: keys are at most {METADATA_MAX_KEY_CHARS} characters")


async def _drain(receive: Receive) -> tuple[list[Message], int]:
    messages: list[Message] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        size += len(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return messages, size


def _with_content_length(scope: Scope, size: int) -> Scope:
    new_scope = dict(scope)
    new_scope["headers"] = [
        (k, v) for k, v in scope["headers"] if k.lower() not in (b"content-length", b"transfer-encoding")
    ] + [(b"content-length", str(size).encode())]
    return new_scope


_PLAIN_STRING = {"type": "string"}
_BOOLEAN = {"type": "boolean"}


class GatewayParameterValidator(ParameterValidator):  # type: ignore[misc]
    """Parameter messages that name the parameter, stay on one line, and never quote a header or cookie value."""

    @staticmethod
    def validate_parameter(
        parameter_type: str, value: Any, param: Mapping[str, Any], param_name: str | None = None
    ) -> str | None:
        schema = param.get("schema")
        if (isinstance(value, str) and schema == _PLAIN_STRING) or (isinstance(value, bool) and schema == _BOOLEAN):
            # the common cases (anthropic-version, anthropic-beta, ids; Claude Code's ``?beta=true``, already coerced
            # to a bool): nothing to check, and connexion's stock path deep-copies the parameter and builds a
            # python-jsonschema validator per value (bench/native_hop.py)
            return None
        error = ParameterValidator.validate_parameter(parameter_type, value, param, param_name)
        if not error:
            return None
        text = str(error)
        if text.startswith("Missing "):
            return text
        name = param.get("name", param_name)
        if parameter_type in ("header", "cookie"):
            return f"invalid {parameter_type} '{name}'"
        first = text.split("\n\n", 1)[0].strip()
        if len(first) > MAX_MESSAGE_CHARS:
            first = first[:MAX_MESSAGE_CHARS] + "…"
        return f"invalid {parameter_type} parameter '{name}': {first}"


class StreamingUploadValidator(MultiPartFormDataValidator):  # type: ignore[misc]
    """connexion's multipart validator keeps every ``http.request`` message of the body in a list while it
    validates, then replays them: a 500 MB upload would sit in memory. The upload operations
    (``gateway.middleware.UPLOAD_PATH``: files, skills, skill versions) pass through untouched instead; their
    handlers check the parts themselves, and starlette's parser spools each file part to disk after 1 MiB.
    Other multipart operations keep the stock validation."""

    async def wrap_receive(self, receive: Receive, *, scope: Scope) -> tuple[Receive, Scope]:
        if UPLOAD_PATH.match(str(scope.get("path", ""))) is not None:
            return receive, scope
        result: tuple[Receive, Scope] = await super().wrap_receive(receive, scope=scope)
        return result


class DecodingJSONResponseValidator(JSONResponseBodyValidator):  # type: ignore[misc]
    """``validate_responses`` for JSON bodies sent with a ``Content-Encoding`` (pass-through forwards an upstream's
    gzip bytes as they are): the body is decoded for validation only, and the client still gets the encoded bytes.
    An encoding the standard library cannot decode (``br``, ``zstd``) is not validated (logged)."""

    _DECODERS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}

    def wrap_send(self, send: Send) -> Send:
        inner = super().wrap_send(send)
        self._content_encoding = ""

        async def send_(message: Message) -> None:
            if message["type"] == "http.response.start":
                self._content_encoding = Headers(raw=message.get("headers", [])).get("content-encoding", "").lower()
            await inner(message)

        return send_

    def _parse(self, stream: Any) -> Any:
        encoding = self._content_encoding.strip()
        if encoding in ("", "identity"):
            return super()._parse(stream)
        wbits = self._DECODERS.get(encoding)
        if wbits is None:
            logger.info("response not validated: content-encoding %s", encoding)
            return _UNVALIDATED
        try:
            decoded = zlib.decompress(b"".join(stream), wbits)
        except zlib.error as exc:
            raise NonConformingResponseBody(f"response body is not valid {encoding}: {exc}") from None
        return super()._parse(iter([decoded]))

    def _validate(self, body: Any) -> dict[str, Any] | None:
        if body is _UNVALIDATED:
            return None
        result: dict[str, Any] | None = super()._validate(body)
        return result


_UNVALIDATED = object()
STREAM_TYPE = "text/event-stream"


class _ResponseValidationOperation(ResponseValidationOperation):  # type: ignore[misc]
    """connexion's response validation, except that a pass-through (``x-implementation: proxy``) operation may answer
    with an SSE stream the contract does not list: the upstream chose it, and the stream is relayed unvalidated."""

    def validate_mime_type(self, mime_type: str) -> None:
        spec = getattr(self._operation, "_operation", {})
        if mime_type.lower() == STREAM_TYPE and spec.get("x-implementation") == "proxy":
            return
        super().validate_mime_type(mime_type)


class _ResponseValidationAPI(ResponseValidationAPI):  # type: ignore[misc]
    def make_operation(self, operation: Any) -> Any:
        if not self.validate_responses:
            return self.next_app
        return _ResponseValidationOperation(self.next_app, operation=operation, validator_map=self.validator_map)


class GatewayResponseValidationMiddleware(ResponseValidationMiddleware):  # type: ignore[misc]
    """Stands in for connexion's ResponseValidationMiddleware (see :class:`_ResponseValidationOperation`)."""

    api_cls = _ResponseValidationAPI


def validator_map(max_json_depth: int = DEFAULT_MAX_JSON_DEPTH) -> dict[str, Any]:
    """The ``validator_map`` for ``add_api``: jsonschema-rs for every JSON request media type (bodies nested deeper
    than ``max_json_depth`` get 400), non-buffering uploads, JSON response validation that decodes a
    ``Content-Encoding`` first, stock validators otherwise."""
    json_validator = type("JSONBodyValidator", (RustJSONBodyValidator,), {"max_json_depth": max_json_depth})
    return {
        "response": MediaTypeDict({**VALIDATOR_MAP["response"], "*/*json": DecodingJSONResponseValidator}),
        "body": MediaTypeDict(
            {
                **VALIDATOR_MAP["body"],
                "*/*json": json_validator,
                "multipart/form-data": StreamingUploadValidator,
            }
        ),
        "parameter": GatewayParameterValidator,
    }
