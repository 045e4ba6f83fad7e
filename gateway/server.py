"""The HTTP/1.1 protocol ``litellm-gateway serve`` runs uvicorn with: uvicorn's httptools protocol plus limits.

What it adds (values from :class:`gateway.limits.Limits`, the ``server:`` config section):

- **header timeout**: a connection must complete its request line and headers within ``header_timeout`` seconds of
  opening (or of the first byte of a following request on a kept-alive connection) - 408, then closed;
- **body timeout**: while a request body is being received, at most ``body_timeout`` seconds may pass without a byte
  (not counted while the gateway itself has paused reading) - 408 if no response has started, then closed;
- **connections per client address**: at most ``max_connections_per_client`` open at once; the next one gets 429 and
  is closed;
- **header limits**: request target over ``max_url_bytes`` - 414; header names and values over ``max_header_bytes``
  together, or more than ``max_headers`` fields - 431; refused while parsing, before the rest is buffered;
- **parser errors** (a raw 0xFF in the path, a bad or duplicate ``Content-Length``, ...) - 400.

Every one of these answers is the Anthropic error envelope with a ``request-id`` header and ``connection: close``,
written directly on the socket (no ASGI app is involved: the request never became one). The keep-alive idle
timeout is uvicorn's own ``timeout_keep_alive`` (:func:`uvicorn_options`).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import Any

import httptools
from starlette.types import ASGIApp
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from gateway.errors import error_body, error_type_for
from gateway.limits import Limits
from gateway.middleware import LocalModeGuard
from gateway.request_id import new_request_id
from gateway.settings import Settings

logger = logging.getLogger(__name__)


class _Refused(Exception):
    """Raised from a parser callback to stop parsing; the answer is in ``status`` and ``message``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class GatewayHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the gateway's connection and header limits (see the module docstring).

    Use :func:`protocol_class` to get a subclass bound to a :class:`Limits` and its own per-address counter.
    """

    limits: Limits = Limits()
    per_client: Counter[str] = Counter()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._timer: asyncio.TimerHandle | None = None
        self._counted: str | None = None
        self._refused = False
        self._header_bytes = 0
        self._in_body = False

    # --- connection -------------------------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        address = self.client[0] if self.client else ""
        if self.per_client[address] >= self.limits.max_connections_per_client:
            logger.warning("too many connections from one client address; refusing a new one")
            limit = self.limits.max_connections_per_client
            self.refuse(429, f"too many connections from this address (at most {limit})")
            return
        self.per_client[address] += 1
        self._counted = address
        self._arm(self.limits.header_timeout, self._header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._uncount()
        super().connection_lost(exc)

    def handle_websocket_upgrade(self) -> None:
        self._disarm()
        self._uncount()  # the WebSocket protocol owns the connection from here on
        super().handle_websocket_upgrade()

    def _uncount(self) -> None:
        if self._counted is not None:
            self.per_client[self._counted] -= 1
            if self.per_client[self._counted] <= 0:
                del self.per_client[self._counted]
            self._counted = None

    # --- parsing ----------------------------------------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        self._unset_keepalive_if_required()
        if self._timer is None and not self._in_body:  # the first byte of a request after a keep-alive pause
            self._arm(self.limits.header_timeout, self._header_timeout)
        elif self._in_body:
            self._arm(self.limits.body_timeout, self._body_timeout)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._disarm()
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
        except httptools.HttpParserCallbackError as exc:
            refusal = exc.__context__
            if isinstance(refusal, _Refused):
                self.refuse(refusal.status, refusal.message)
            else:
                logger.warning("invalid HTTP request (%s)", type(refusal).__name__)
                self.refuse(400, "invalid HTTP request")
        except httptools.HttpParserError as exc:
            logger.info("invalid HTTP request: %s", exc)
            self.refuse(400, f"invalid HTTP request: {exc}")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_bytes = 0

    def on_url(self, url: bytes) -> None:
        if len(self.url) + len(url) > self.limits.max_url_bytes:
            raise _Refused(414, f"request target is too long: the limit is {self.limits.max_url_bytes} bytes")
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_bytes += len(name) + len(value)
        if self._header_bytes > self.limits.max_header_bytes:
            raise _Refused(431, f"request headers are too large: the limit is {self.limits.max_header_bytes} bytes")
        if len(self.headers) >= self.limits.max_headers:
            raise _Refused(431, f"too many request headers: the limit is {self.limits.max_headers}")
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()
        if not self.parser.should_upgrade():  # until on_message_complete (at once for a request without a body)
            self._in_body = True
            self._arm(self.limits.body_timeout, self._body_timeout)

    def on_message_complete(self) -> None:
        self._in_body = False
        self._disarm()
        super().on_message_complete()

    # --- timeouts ---------------------------------------------------------------------------------------------------
    def _arm(self, seconds: float, callback: Any) -> None:
        self._disarm()
        self._timer = self.loop.call_later(seconds, callback)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _header_timeout(self) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        logger.info("request headers not received within %s s; closing the connection", self.limits.header_timeout)
        self.refuse(408, f"request headers not received within {self.limits.header_timeout:g} seconds")

    def _body_timeout(self) -> None:
        self._timer = None
        if self.transport.is_closing() or not self._in_body:
            return
        if self.flow.read_paused:  # the gateway is not reading: the client is not the slow one
            self._arm(self.limits.body_timeout, self._body_timeout)
            return
        logger.info("request body stalled for %s s; closing the connection", self.limits.body_timeout)
        cycle = self.cycle
        if cycle is not None and cycle.response_started:
            self.transport.close()
            return
        if cycle is not None:  # the application sees a disconnect; its own response, if any, is dropped
            cycle.disconnected = True
            cycle.message_event.set()
        self.refuse(408, f"request body stalled: no data for {self.limits.body_timeout:g} seconds")

    # --- answers ----------------------------------------------------------------------------------------------------
    def refuse(self, status: int, message: str) -> None:
        """Write ``status`` with the error envelope, close the connection, ignore whatever else arrives."""
        self._refused = True
        self._disarm()
        request_id = new_request_id()
        body = error_body(error_type_for(status), message, request_id)
        head = [
            STATUS_LINE[status],
            b"content-type: application/json\r\n",
            b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
            b"request-id: " + request_id.encode("ascii") + b"\r\n",
            b"connection: close\r\n\r\n",
        ]
        if not self.transport.is_closing():
            self.transport.write(b"".join(head) + body)
            self.transport.close()

    def send_400_response(self, msg: str) -> None:
        self.refuse(400, "invalid HTTP request")


def protocol_class(limits: Limits) -> type[GatewayHttpProtocol]:
    """A :class:`GatewayHttpProtocol` subclass for one server: these limits and its own per-address counter."""
    attributes = {"limits": limits, "per_client": Counter()}
    return type("BoundGatewayHttpProtocol", (GatewayHttpProtocol,), attributes)


def uvicorn_options(limits: Limits) -> dict[str, Any]:
    """The keyword arguments of ``uvicorn.run`` that carry these limits."""
    return {"http": protocol_class(limits), "timeout_keep_alive": limits.keep_alive_timeout}


def served_app(settings: Settings, limits: Limits) -> ASGIApp:
    """The application ``litellm-gateway serve`` runs: :func:`gateway.app.create_app`, and in local mode (no gateway
    keys) behind :class:`gateway.middleware.LocalModeGuard` (loopback ``Host`` only, no cross-origin writes)."""
    from gateway.app import create_app

    app = create_app(settings)
    if not settings.local_mode:
        return app
    return LocalModeGuard(app, allowed_hosts=limits.allowed_hosts, allowed_origins=limits.allowed_origins)
