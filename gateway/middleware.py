"""Pure ASGI middlewares that sit outside everything: request ids, request body size limits, and the local-mode guard
against web pages (Host and Origin checks)."""

from __future__ import annotations

import ipaddress
import logging
import re

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import RequestTooLarge, error_type_for, render_error, render_gateway_error
from gateway.request_id import STATE_KEY, new_request_id, request_id_for, scope_state

logger = logging.getLogger(__name__)

REQUEST_ID_HEADER = b"request-id"
# multipart uploads get max_upload_body_bytes: /v1/files, /v1/skills, /v1/skills/{skill_id}/versions
UPLOAD_PATH = re.compile(r"^/v1/(?:files|skills|skills/[^/]+/versions)/?$")


class RequestIdMiddleware:
    """Give every HTTP request an id (``scope["state"]["request_id"]``) and every response a ``request-id`` header.

    It must be the outermost middleware so that error responses produced anywhere carry the same id in the header
    as in their body.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = new_request_id()
        scope_state(scope)[STATE_KEY] = request_id
        header = (REQUEST_ID_HEADER, request_id.encode("ascii"))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() != REQUEST_ID_HEADER]
                headers.append(header)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_id)


class BodySizeLimitMiddleware:
    """Answer 413 to request bodies over the limit.

    A declared Content-Length over the limit is refused before anything is read. A body without Content-Length
    (chunked) is counted while the application reads it; going over raises :class:`RequestTooLarge` from
    ``receive``, which the error handlers render as 413 (or this middleware does, if the response has not started).
    """

    def __init__(self, app: ASGIApp, *, max_request_body_bytes: int, max_upload_body_bytes: int) -> None:
        self.app = app
        self.max_request_body_bytes = max_request_body_bytes
        self.max_upload_body_bytes = max_upload_body_bytes

    def limit_for(self, scope: Scope, headers: Headers) -> int:
        is_multipart = headers.get("content-type", "").lower().startswith("multipart/")
        if is_multipart and UPLOAD_PATH.match(scope["path"]):
            return self.max_upload_body_bytes
        return self.max_request_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        limit = self.limit_for(scope, headers)
        too_large = RequestTooLarge(f"request body is too large: the limit is {limit} bytes")
        declared = headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                response = render_error(
                    400, "invalid_request_error", "invalid Content-Length header", request_id_for(scope)
                )
                await response(scope, receive, send)
                return
            if int(declared) > limit:
                await render_gateway_error(too_large, request_id_for(scope))(scope, receive, send)
                return
            await self.app(scope, receive, send)  # the server enforces the declared length
            return

        received = 0
        exceeded = False
        started = False

        async def counting_receive() -> Message:
            nonlocal received, exceeded
            if exceeded:
                raise too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise too_large
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except RequestTooLarge:
            if started:
                logger.info("request body over the limit after the response started; response cut short")
                return
            await render_gateway_error(too_large, request_id_for(scope))(scope, receive, send)


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_CROSS_SITE = frozenset({"cross-site", "same-site"})


def is_loopback_host(host: str) -> bool:
    """``localhost`` or a loopback address literal (``127.0.0.0/8``, ``[::1]``), any port."""
    name = host.strip().lower()
    if name.startswith("["):
        name = name[1 : name.find("]")] if "]" in name else name
    elif name.count(":") == 1:
        name = name.split(":", 1)[0]
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _host_name(host: str) -> str:
    """The Host header without its port, lowercased (IPv6 literals keep their brackets)."""
    name = host.strip().lower()
    if name.startswith("["):
        return name[: name.find("]") + 1] if "]" in name else name
    return name.split(":", 1)[0]


class LocalModeGuard:
    """Local mode (no gateway keys) must not be drivable by web pages the user visits.

    - **DNS rebinding**: the ``Host`` header must name a loopback address or ``localhost`` (any port), or one of
      ``allowed_hosts``; anything else gets 400 before any routing. A request without ``Host`` (HTTP/1.0 tools) passes.
    - **Cross-origin writes**: a request with a method other than GET/HEAD/OPTIONS is refused with 403 when it carries
      an ``Origin`` that is neither a loopback origin nor one of ``allowed_origins`` (``Origin: null`` included), or,
      without ``Origin``, a ``Sec-Fetch-Site`` of ``cross-site``/``same-site``. WebSocket handshakes get the same
      ``Origin`` check whatever their method. The gateway sends no CORS headers, so browsers never get to read
      cross-origin answers either.
    """

    def __init__(self, app: ASGIApp, *, allowed_hosts: tuple[str, ...] = (), allowed_origins: tuple[str, ...] = ()):
        self.app = app
        self.allowed_hosts = frozenset(_host_name(h) for h in allowed_hosts)
        self.allowed_origins = frozenset(o.lower().rstrip("/") for o in allowed_origins)

    def host_allowed(self, host: str | None) -> bool:
        return host is None or is_loopback_host(host) or _host_name(host) in self.allowed_hosts

    def origin_allowed(self, origin: str) -> bool:
        origin = origin.strip().lower().rstrip("/")
        if origin in self.allowed_origins:
            return True
        scheme, sep, rest = origin.partition("://")
        return bool(sep) and scheme in ("http", "https") and "/" not in rest and is_loopback_host(rest)

    def refusal(self, scope: Scope, headers: Headers) -> tuple[int, str] | None:
        if not self.host_allowed(headers.get("host")):
            return 400, "Host header not accepted: this gateway runs in local mode and answers loopback names only"
        origin = headers.get("origin")
        if scope["type"] == "http" and scope["method"] in SAFE_METHODS:
            return None
        if origin is not None:
            if self.origin_allowed(origin):
                return None
            return 403, "cross-origin request refused: local mode accepts writes from loopback origins only"
        if headers.get("sec-fetch-site", "").lower() in _CROSS_SITE:
            return 403, "cross-site request refused: local mode accepts writes from loopback origins only"
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        refused = self.refusal(scope, Headers(scope=scope))
        if refused is None:
            await self.app(scope, receive, send)
            return
        status, message = refused
        logger.warning("local mode: %s %s refused (%d)", scope["type"], scope.get("path", ""), status)
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        request_id = request_id_for(scope)
        headers = {REQUEST_ID_HEADER.decode(): request_id}
        await render_error(status, error_type_for(status), message, request_id, headers)(scope, receive, send)
