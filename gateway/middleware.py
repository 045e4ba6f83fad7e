"""Pure ASGI middlewares that sit outside everything: request ids and request body size limits."""

from __future__ import annotations

import logging
import re

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import RequestTooLarge, render_error, render_gateway_error
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
