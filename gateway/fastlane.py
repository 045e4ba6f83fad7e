"""The fast lane: ``POST /v1/messages`` and ``POST /v1/messages/count_tokens`` without connexion's per-request
routing, parameter handling and handler wrapping, with the same contract.

It sits in connexion's middleware stack just inside connexion's ``ExceptionMiddleware`` (so every exception it lets
out is rendered by the same error handlers as on the normal path) and is bound, once the stack is built, to the very
objects connexion would use for these two operations:

- routing: the operation id and ``api_base_path`` connexion's router gives these paths (asked of the router at bind
  time) are written into ``scope["extensions"]["connexion_routing"]``, where the ops middleware, the request
  accounting and the worker-credential check read them;
- authentication: connexion's own verification function of the operation (``SecurityOperation.verification_fn``),
  which also puts ``token_info`` into ``scope["extensions"]["connexion_context"]``;
- parameters: bound only when every header parameter is an optional plain string and the only query parameter is
  the optional boolean ``beta`` (nothing to check for the requests taken: see :data:`ACCEPTED_QUERIES`);
- the body: the operation's own JSON body validator (:class:`gateway.validation.RustJSONBodyValidator`: the same
  parse, depth limit, schema and messages);
- responses: the operation's response validation when ``validate_responses`` is on;
- the handler's work: :func:`create_message` and :func:`count_message_tokens`, which the connexion handlers
  (``handlers.native.messages``) call too. An operation whose resolved handler is another function (another
  handlers package) is not bound.

Anything unusual goes to connexion untouched, before anything is read (another method, path, query string, content
type, a chunked or empty body, a root path): connexion then answers exactly as it always did. A client that
disconnects while its body is read goes to connexion too, with what was read replayed.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from connexion.apps.asynchronous import AsyncASGIApp
from connexion.lifecycle import ConnexionRequest
from connexion.middleware.abstract import ROUTING_CONTEXT
from connexion.middleware.request_validation import RequestValidationMiddleware, RequestValidationOperation
from connexion.middleware.response_validation import ResponseValidationMiddleware, ResponseValidationOperation
from connexion.middleware.routing import RoutingMiddleware, RoutingOperation
from connexion.middleware.security import SecurityMiddleware, SecurityOperation
from connexion.utils import is_nullable
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.routing import Match, Mount, Route, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway import native as native_module
from gateway.keys import metering
from gateway.keys.service import KEYS_STATE, identity_in
from gateway.request_id import request_id_for
from gateway.validation import RustJSONBodyValidator, parse_json_body

logger = logging.getLogger(__name__)

#: path -> spec operationId of the operations the lane serves (POST only)
LANE_PATHS: Mapping[str, str] = {
    "/v1/messages": "native.messages.create",
    "/v1/messages/count_tokens": "native.messages.count_tokens",
}
#: query strings taken: none, and Claude Code's ``?beta=true`` (connexion coerces it to a valid boolean)
ACCEPTED_QUERIES = frozenset({b"", b"beta=true"})
JSON = b"application/json"
_PLAIN_STRING = {"type": "string"}
_BOOLEAN = {"type": "boolean"}

Handler = Callable[[Scope, dict[str, Any], bytes, Headers, str], Awaitable[Response]]


# -- the handlers' work, shared with handlers.native.messages ----------------------------------------------------
async def create_message(scope: Scope, body: dict[str, Any], raw: bytes, headers: Headers, query: str) -> Response:
    """``POST /v1/messages``: routed by tier and effort, metered against the caller's key when keys are on."""
    state = scope.get("state") or {}
    native: native_module.NativeService = state[native_module.STATE]
    keys = state.get(KEYS_STATE)
    if keys is None:
        return await native.messages(body, raw, headers, query=query)
    return await metering.metered_messages(
        keys, native, identity_in(scope), body, raw, headers, query=query, request_id=request_id_for(scope)
    )


async def count_message_tokens(
    scope: Scope, body: dict[str, Any], raw: bytes, headers: Headers, query: str
) -> Response:
    """``POST /v1/messages/count_tokens``: Anthropic routes pass through, other backends count locally."""
    native: native_module.NativeService = (scope.get("state") or {})[native_module.STATE]
    return await native.messages(body, raw, headers, query=query, count_tokens=True)


# -- the lane --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LaneRoute:
    """What the lane needs of one operation, taken from connexion's built stack."""

    operation_id: str  # as connexion resolved it ("handlers.native.messages.create")
    api_base_path: str
    verify: Callable[[ConnexionRequest], Awaitable[None]] | None  # None: the operation has no security
    body: RustJSONBodyValidator
    nullable: bool
    responses: ResponseValidationOperation | None  # None: validate_responses is off
    handler: Handler


class FastLane:
    """ASGI middleware inside connexion's ``ExceptionMiddleware``; passes everything through until :meth:`bind`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.routes: dict[str, LaneRoute] = {}
        self.taken = 0  # requests the lane answered, errors included (observable for tests)
        self.passed = 0  # requests to a lane path handed to connexion

    def bind(self, stack: Sequence[Any]) -> list[str]:
        """Bind to connexion's built middleware ``stack``; returns the paths bound (others stay with connexion)."""
        self.routes = {}
        for path, spec_id in LANE_PATHS.items():
            route = _lane_route(stack, path, spec_id)
            if route is not None:
                self.routes[path] = route
        logger.debug("fast lane bound to %s", sorted(self.routes))
        return sorted(self.routes)

    def route_for(self, scope: Scope) -> LaneRoute | None:
        """The lane route for ``scope``, or None when anything about the request is unusual."""
        if scope["type"] != "http" or scope["method"] != "POST" or scope.get("root_path"):
            return None
        route = self.routes.get(scope["path"])
        if route is None:
            return None
        if scope.get("query_string", b"") not in ACCEPTED_QUERIES:
            return None
        content_type: bytes | None = None
        length: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"content-type":
                if content_type is not None:
                    return None
                content_type = value
            elif name == b"content-length":
                if length is not None:
                    return None
                length = value
            elif name == b"transfer-encoding":
                return None
        if content_type != JSON or length is None or not length.isdigit() or int(length) == 0:
            return None
        return route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self.route_for(scope) if self.routes else None
        if route is None:
            if self.routes and scope.get("path") in self.routes:
                self.passed += 1
            await self.app(scope, receive, send)
            return
        # what connexion's RoutingMiddleware does: a shallow copy of the scope goes on, the shared extensions dict
        # carries the routing result out to the ops middleware and the accounting
        extensions = scope.setdefault("extensions", {})
        extensions.setdefault(ROUTING_CONTEXT, {}).update(
            {"api_base_path": route.api_base_path, "operation_id": route.operation_id}
        )
        inner = dict(scope)
        inner.setdefault("path_params", {})
        self.taken += 1
        if route.verify is not None:
            await route.verify(ConnexionRequest(inner))
        messages, raw = await _read_body(receive)
        if raw is None:  # the client went away mid-body: connexion answers as it always did
            self.taken, self.passed = self.taken - 1, self.passed + 1
            await self.app(scope, _replay(messages, receive), send)
            return
        validator = route.body
        body = parse_json_body(raw, validator.max_json_depth)
        if not (body is None and route.nullable):
            validator._validate(body)
        headers = Headers(scope=inner)
        query = inner.get("query_string", b"").decode("latin-1")
        response = await route.handler(inner, body, raw, headers, query)
        if route.responses is None:
            await response(inner, receive, send)
            return
        checked = type(route.responses)(
            response, operation=route.responses._operation, validator_map=route.responses._validator_map
        )
        await checked(inner, receive, send)


async def _read_body(receive: Receive) -> tuple[list[Message], bytes | None]:
    """The request's messages and its body; None for the body when a message other than ``http.request`` came."""
    messages: list[Message] = []
    chunks: list[bytes] = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages, None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return messages, b"".join(chunks)


def _replay(messages: Iterable[Message], receive: Receive) -> Receive:
    pending = iter(messages)

    async def replayed() -> Message:
        for message in pending:
            return message
        return await receive()

    return replayed


# -- binding -----------------------------------------------------------------------------------------------------
def _lane_route(stack: Sequence[Any], path: str, spec_id: str) -> LaneRoute | None:
    routed = _routed(stack, path)
    if routed is None:
        logger.info("fast lane: connexion does not route POST %s to one operation; left to connexion", path)
        return None
    operation_id, base = routed
    if not (operation_id == spec_id or operation_id.endswith("." + spec_id)):
        return None
    handler = _handler(stack, base, operation_id, spec_id)
    validation = _operation(stack, RequestValidationMiddleware, base, operation_id)
    security = _operation(stack, SecurityMiddleware, base, operation_id)
    if handler is None or not isinstance(validation, RequestValidationOperation):
        return None
    if not isinstance(security, SecurityOperation):
        return None
    body = _body_validator(validation)
    if body is None:
        return None
    responses = _operation(stack, ResponseValidationMiddleware, base, operation_id)
    return LaneRoute(
        operation_id=operation_id,
        api_base_path=base,
        verify=security.verification_fn if security.security else None,
        body=body,
        nullable=bool(is_nullable(validation._operation.body_definition("application/json"))),
        responses=responses if isinstance(responses, ResponseValidationOperation) else None,
        handler=handler,
    )


def _routed(stack: Sequence[Any], path: str) -> tuple[str, str] | None:
    """The (operation id, api_base_path) connexion's router gives ``POST path``, asked of the router itself."""
    routing = next((layer for layer in stack if isinstance(layer, RoutingMiddleware)), None)
    if routing is None:
        return None
    scope: Scope = {"type": "http", "method": "POST", "path": path, "root_path": "", "query_string": b"", "headers": []}
    found = _match(routing.router, scope)
    if found is None:
        return None
    operation, child = found
    if operation.operation_id is None:
        return None

    def root(s: Scope) -> str:
        return str(s.get("route_root_path", s.get("root_path", "")))

    return str(operation.operation_id), root(child)[len(root(scope)) :]


def _match(router: Router, scope: Scope) -> tuple[RoutingOperation, Scope] | None:
    for candidate in router.routes:
        match, child = candidate.matches(scope)
        if match is not Match.FULL:
            continue  # starlette, too, takes the first full match (a partial one is another method's route)
        merged = {**scope, **child}
        if isinstance(candidate, Mount):
            inner = candidate.app
            return _match(inner, merged) if isinstance(inner, Router) else None
        if isinstance(candidate, Route) and isinstance(candidate.app, RoutingOperation):
            return candidate.app, merged
        return None
    return None


def _operation(stack: Sequence[Any], kind: type, base: str, operation_id: str) -> Any:
    layer: Any = next((layer for layer in stack if isinstance(layer, kind)), None)
    apis = layer.apis.get(base, []) if layer is not None else []
    for api in apis:
        if operation_id in api.operations:
            return api.operations[operation_id]
    return None


def _handler(stack: Sequence[Any], base: str, operation_id: str, spec_id: str) -> Handler | None:
    """The lane's function for the operation, when connexion's resolved handler is the matching one of
    ``handlers.native.messages``."""
    from handlers.native import messages

    expected: dict[str, tuple[Callable[..., Any], Handler]] = {
        "native.messages.create": (messages.create, create_message),
        "native.messages.count_tokens": (messages.count_tokens, count_message_tokens),
    }
    operation = _operation(stack, AsyncASGIApp, base, operation_id)  # connexion's innermost layer, the handlers
    pair = expected.get(spec_id)
    if operation is None or pair is None or getattr(operation, "_fn", None) is not pair[0]:
        return None
    return pair[1]


def _body_validator(validation: RequestValidationOperation) -> RustJSONBodyValidator | None:
    """The operation's JSON body validator, if the operation is one the lane can take: JSON bodies only, no strict
    validation, optional plain-string headers and at most the optional boolean ``beta`` query parameter."""
    operation = validation._operation
    if validation.strict_validation or list(operation.consumes) != ["application/json"]:
        return None
    for parameter in operation.parameters:
        where, schema, required = parameter.get("in"), parameter.get("schema"), parameter.get("required", False)
        plain_header = where == "header" and schema == _PLAIN_STRING
        beta = where == "query" and parameter.get("name") == "beta" and schema == _BOOLEAN
        if required or not (plain_header or beta):
            return None
    schema = operation.body_schema("application/json")
    kind = validation._validator_map["body"].get("application/json")
    if not schema or not (isinstance(kind, type) and issubclass(kind, RustJSONBodyValidator)):
        return None
    validator: RustJSONBodyValidator = kind(
        schema=schema,
        required=operation.request_body.get("required", False),
        nullable=is_nullable(operation.body_definition("application/json")),
        encoding="utf-8",
        strict_validation=False,
    )
    return validator
