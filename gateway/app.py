"""The application factory.

Shape of the ASGI stack, outermost first::

    RequestIdMiddleware -> OpsMiddleware -> BodySizeLimitMiddleware -> dispatch by scope type
        ├── http      -> AccountingMiddleware -> SpecDocumentMiddleware (/openapi.json, /openapi.yaml) -> connexion
        │                AsyncApp (routing, security, validation, handlers resolved from operationIds; inside its
        │                exception handlers, gateway.fastlane takes the plain Messages and count_tokens requests)
        └── websocket, lifespan -> Starlette (lifespan; WebSocketRoute /api/ws/speech_to_text/voice_stream, the
                         voice relay of gateway.proxy.websocket)

Every HTTP request goes to connexion, whatever its path: a starlette ``Mount("/")`` would not match a path with a
percent-encoded newline and answer a plain-text 404 outside the error envelope.

Everything per-app (settings, key index) lives in the lifespan state; nothing is built at import time.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import partial
from typing import Any

import connexion
from connexion.middleware.exceptions import ExceptionMiddleware
from connexion.middleware.main import ConnexionMiddleware
from connexion.middleware.response_validation import ResponseValidationMiddleware
from connexion.middleware.server_error import ServerErrorMiddleware
from connexion.resolver import RelativeResolver
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway import services
from gateway.auth import KEY_INDEX_STATE, SETTINGS_STATE, KeyIndex, security_map
from gateway.error_handlers import ErrorHandlers, starlette_unhandled
from gateway.fastlane import FastLane
from gateway.limits import parse_limits
from gateway.middleware import BodySizeLimitMiddleware, RequestIdMiddleware
from gateway.ops.access import OpsMiddleware
from gateway.proxy.accounting import AccountingMiddleware
from gateway.proxy.websocket import voice_relay
from gateway.settings import Settings
from gateway.spec import AllowIndex, install_fast_spec_validation, install_uncopied_raw_spec, load_spec, routing_order
from gateway.spec_document import SpecDocumentMiddleware
from gateway.validation import GatewayResponseValidationMiddleware, precompile_bodies, register_bodies, validator_map

logger = logging.getLogger(__name__)

VOICE_WS_PATH = "/api/ws/speech_to_text/voice_stream"
#: body validators compiled while the app is built rather than on their first request (~100 ms each)
PRECOMPILED_OPERATIONS = frozenset({"native.messages.create", "native.messages.count_tokens"})


def spec_document(settings: Settings) -> dict[str, Any]:
    """The parsed OpenAPI document of ``settings.spec_path`` (cached; treat it as read-only)."""
    return load_spec(settings.spec_path)


def _lifespan(settings: Settings) -> Callable[[Starlette], AbstractAsyncContextManager[dict[str, Any]]]:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        index = KeyIndex.from_settings(settings)
        mode = "local mode (no API keys)" if settings.local_mode else f"{len(index.entries)} API key(s)"
        logger.info("gateway starting: spec %s, %s", settings.spec_path, mode)
        async with services.started(settings) as service_state:
            # start-up objects (the parsed multi-megabyte spec, connexion's routes) live as long as the app: keep them
            # out of the cyclic collector's full passes (a 94 ms pause was measured without this)
            gc.collect()
            gc.freeze()
            try:
                yield {**service_state, SETTINGS_STATE: settings, KEY_INDEX_STATE: index}
            finally:
                # give them back to the collector: a process that builds several apps (the test suite) would
                # otherwise keep every stopped app's cycles forever (the suite grew past 20 GiB)
                gc.unfreeze()
        logger.info("gateway stopped")

    return lifespan


def _connexion_middlewares(handlers: ErrorHandlers) -> list[Any]:
    """connexion's default stack, with its outermost crash handler rendering our envelope too, response validation
    that accepts pass-through SSE (gateway.validation.GatewayResponseValidationMiddleware), and the Messages fast
    lane (gateway.fastlane) just inside the exception handlers, before connexion's routing."""
    replaced: dict[Any, Any] = {
        ServerErrorMiddleware: partial(ServerErrorMiddleware, handler=handlers.on_unhandled),
        ResponseValidationMiddleware: GatewayResponseValidationMiddleware,
    }
    stack = [replaced.get(m, m) for m in ConnexionMiddleware.default_middlewares]
    stack.insert(stack.index(ExceptionMiddleware) + 1, FastLane)
    return stack


def _build_now(api: Any, doc: dict[str, Any]) -> None:
    """Build connexion's middleware stack now, so that a missing handler or a bad spec fails ``create_app`` rather
    than the first request (connexion 3.3 builds it lazily on the first call; this mirrors that call)."""
    middleware = api.middleware
    if middleware.middleware_stack is None:
        middleware.app, middleware.middleware_stack = middleware._build_middleware_stack()
    register_bodies(middleware.middleware_stack, doc)
    precompile_bodies(middleware.middleware_stack, PRECOMPILED_OPERATIONS)
    for layer in middleware.middleware_stack:
        if isinstance(layer, FastLane):
            layer.bind(middleware.middleware_stack)


class _ByScopeType:
    """HTTP to connexion; WebSocket and lifespan to the Starlette app that owns them."""

    def __init__(self, http: ASGIApp, other: ASGIApp) -> None:
        self.http = http
        self.other = other

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = self.http if scope["type"] == "http" else self.other
        await app(scope, receive, send)


def create_app(settings: Settings) -> ASGIApp:
    """Build the gateway ASGI application for ``settings``."""
    doc = spec_document(settings)
    install_fast_spec_validation()
    install_uncopied_raw_spec()
    handlers = ErrorHandlers(AllowIndex.from_spec(doc))
    api = connexion.AsyncApp(__name__, middlewares=_connexion_middlewares(handlers))
    # The parsed document rather than the path: connexion would re-read a multi-megabyte file with the pure-Python
    # YAML loader after rendering it as a Jinja template. The spec must therefore be self-contained (local $refs).
    api.add_api(
        routing_order(doc),
        resolver=RelativeResolver(settings.handlers_package),
        strict_validation=False,
        validate_responses=settings.validate_responses,
        validator_map=validator_map(parse_limits(settings.raw).max_json_depth),
        security_map=security_map(settings),
    )
    handlers.install(api)
    _build_now(api, doc)
    sockets = Starlette(
        routes=[WebSocketRoute(VOICE_WS_PATH, voice_relay)],
        lifespan=_lifespan(settings),
        exception_handlers={Exception: starlette_unhandled},
    )
    limited = BodySizeLimitMiddleware(
        _ByScopeType(http=AccountingMiddleware(SpecDocumentMiddleware(api, doc, settings.spec_path)), other=sockets),
        max_request_body_bytes=settings.max_request_body_bytes,
        max_upload_body_bytes=settings.max_upload_body_bytes,
    )
    return RequestIdMiddleware(OpsMiddleware(limited))
