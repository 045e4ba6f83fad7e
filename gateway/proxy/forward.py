"""The streaming reverse proxy: one request in, the same request out to the operation's configured upstream.

Streaming both ways: the request body is read from the ASGI receive channel chunk by chunk while it is sent
upstream (aiohttp sends it with the client's Content-Length, or chunked), and the upstream body is relayed to the
client as each chunk arrives (``iter_any``), so SSE and chunked responses are incremental and memory stays bounded
whatever the size. (Request bodies that the contract describes as JSON have already been read once by the
validation layer, bounded by ``gateway.max_request_body_bytes``; bodies it does not parse are never held whole.)

Only the configured upstream is contacted: the URL is built from the configured scheme, host and port plus the
request's own path and query, so no path, header or query value can name another host; redirects are returned to
the client, never followed. Connection failures become 502, timeouts 504 (Anthropic error envelopes). Once the
response has started, a failure ends an SSE stream with an ``error`` event and aborts any other body (the client sees
a truncated transfer, never a silently short one).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote_to_bytes

import aiohttp
import orjson
from multidict import CIMultiDict
from starlette.requests import ClientDisconnect
from starlette.responses import Response, StreamingResponse
from starlette.types import Scope
from yarl import URL

from gateway.errors import InvalidRequest, UpstreamError, UpstreamTimeout, error_type_for, render_error
from gateway.proxy.config import ProxyConfig, Timeouts, Upstream
from gateway.proxy.headers import UPSTREAM_REQUEST_ID, client_response_headers, upstream_request_headers
from gateway.proxy.operations import ProxyOperation
from gateway.request_id import request_id_for

logger = logging.getLogger(__name__)

# what aiohttp would otherwise add on its own: the upstream sees only what the client sent
SKIP_AUTO_HEADERS = ("User-Agent", "Accept", "Accept-Encoding", "Content-Type")
_PATH_SAFE = "/!$&'()*+,;=:@-._~%"
_QUERY_SAFE = "/?!$&'()*+,;=:@-._~%"


class UpstreamStreamBroken(Exception):
    """The upstream failed after the response started: the client's transfer is aborted."""


@dataclass
class _BodyState:
    error: BaseException | None = None


def request_target(scope: Scope) -> tuple[str, str]:
    """The upstream path (still percent-encoded as the client sent it) and query string of ``scope``.

    Raises :class:`InvalidRequest` for paths that could mean something else upstream: not starting with exactly one
    ``/``, or holding ``.`` / ``..`` segments once decoded."""
    path: str = scope["path"]
    if not path.startswith("/") or path.startswith("//") or "\\" in path:
        raise InvalidRequest("invalid request path")
    if any(segment in (".", "..") for segment in path.split("/")):
        raise InvalidRequest("invalid request path: dot segments are not forwarded")
    raw = scope.get("raw_path")
    target: str | None = None
    if isinstance(raw, bytes) and raw.startswith(b"/") and not raw.startswith(b"//"):
        try:
            text = raw.decode("ascii")
        except UnicodeDecodeError:
            text = None
        # use the client's own encoding only when it means exactly the path that was routed
        if text is not None and unquote_to_bytes(text) == path.encode("utf-8") and "?" not in text:
            target = quote(text, safe=_PATH_SAFE)
    if target is None:
        target = quote(path, safe="/!$&'()*+,;=:@-._~")
    query = quote(bytes(scope.get("query_string", b"")).decode("latin-1"), safe=_QUERY_SAFE)
    return target, query


def upstream_url(upstream: Upstream, target: str, query: str, *, websocket: bool = False) -> URL:
    scheme = upstream.scheme
    if websocket:
        scheme = "wss" if scheme == "https" else "ws"
    return URL.build(
        scheme=scheme,
        host=upstream.host,
        port=upstream.port,
        path=upstream.base_path + target,
        query_string=query,
        encoded=True,
    )


def client_timeout(timeouts: Timeouts) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(total=None, connect=None, sock_connect=timeouts.connect, sock_read=timeouts.read)


def _has_body(headers: CIMultiDict[str]) -> bool:
    length = headers.get("Content-Length")
    if length is not None:
        return length.strip() not in ("", "0")
    return "chunked" in headers.get("Transfer-Encoding", "").lower()


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def _text_headers(raw: list[tuple[bytes, bytes]]) -> CIMultiDict[str]:
    return CIMultiDict((k.decode("latin-1"), v.decode("latin-1")) for k, v in raw)


def _describe(exc: BaseException) -> str:
    """A short, secret-free description of a connection error (class name and errno text only)."""
    inner = getattr(exc, "os_error", None) or exc.__cause__
    detail = getattr(inner, "strerror", None) or type(inner or exc).__name__
    return f"{type(exc).__name__}: {detail}"


def sse_error_event(message: str) -> bytes:
    data = orjson.dumps({"type": "error", "error": {"type": "api_error", "message": message}})
    return b"event: error\ndata: " + data + b"\n\n"


class ReverseProxy:
    """Forwards requests of proxy operations; one per app, sharing the lifespan's aiohttp session."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        config: ProxyConfig,
        is_gateway_key: Callable[[str], bool],
    ) -> None:
        self.session = session
        self.config = config
        self.is_gateway_key = is_gateway_key

    async def forward(self, operation: ProxyOperation, request: Any) -> Response:
        """Forward the current request (a starlette/connexion request) and stream the answer back."""
        scope: Scope = request.scope
        upstream = self.config.upstream_for(operation.category, operation.role)
        target, query = request_target(scope)
        url = upstream_url(upstream, target, query)
        headers = _text_headers(
            upstream_request_headers(
                scope["headers"], forward_cookies=operation.forwards_cookies, is_gateway_key=self.is_gateway_key
            )
        )
        method: str = scope["method"]
        state = _BodyState()
        data: AsyncIterator[bytes] | bytes | None = None
        if _has_body(_text_headers(list(scope["headers"]))):
            data = self._request_body(request, state)
        elif method in ("POST", "PUT", "PATCH"):
            data = b""
        timeouts = self.config.category(operation.category).timeouts
        try:
            upstream_response = await self.session.request(
                method,
                url,
                headers=headers,
                data=data,
                allow_redirects=False,
                timeout=client_timeout(timeouts),
            )
        except Exception as exc:
            raise self._convert(exc, state, upstream) from exc
        if upstream_response.status >= 400 and not _is_json(upstream_response.headers.get("Content-Type", "")):
            return self._non_json_error(upstream_response, operation, upstream, request_id_for(scope))
        return self._relay(upstream_response, operation, upstream)

    @staticmethod
    def _non_json_error(
        upstream_response: aiohttp.ClientResponse, operation: ProxyOperation, upstream: Upstream, request_id: str
    ) -> Response:
        """An upstream error whose body is not JSON (an HTML error page of a proxy or load balancer, plain text) is
        answered with the same status in the Anthropic envelope; the body itself is dropped, never relayed."""
        status = upstream_response.status
        content_type = upstream_response.headers.get("Content-Type", "") or "no content type"
        upstream_response.close()
        logger.info("%s: upstream %s answered %d with a non-JSON body", operation.operation_id, upstream.origin, status)
        headers = {
            k.decode("latin-1"): v.decode("latin-1")
            for k, v in client_response_headers(upstream_response.raw_headers)
            if k.lower() == UPSTREAM_REQUEST_ID
        }
        message = f"upstream {upstream.origin} answered {status} with a non-JSON body ({content_type[:100]})"
        return render_error(status, error_type_for(status), message, request_id, headers)

    async def _request_body(self, request: Any, state: _BodyState) -> AsyncIterator[bytes]:
        try:
            async for chunk in request.stream():
                if chunk:
                    yield chunk
        except BaseException as exc:
            state.error = exc
            raise

    def _convert(self, exc: Exception, state: _BodyState, upstream: Upstream) -> Exception:
        """Map a failure before the response started to the gateway's exception tree."""
        if state.error is not None and isinstance(state.error, Exception):
            if isinstance(state.error, ClientDisconnect):
                return InvalidRequest("client disconnected while sending the request body")
            return state.error  # e.g. RequestTooLarge from the body-size middleware
        if isinstance(exc, TimeoutError):  # logged by the error handlers, like every 5xx
            return UpstreamTimeout(f"upstream {upstream.origin} did not answer in time")
        if isinstance(exc, aiohttp.ClientError | OSError):
            return UpstreamError(f"upstream {upstream.origin} is unreachable ({_describe(exc)})")
        return exc

    def _relay(
        self, upstream_response: aiohttp.ClientResponse, operation: ProxyOperation, upstream: Upstream
    ) -> Response:
        content_type = upstream_response.headers.get("Content-Type", "")
        is_sse = content_type.lower().startswith("text/event-stream")
        origin = upstream.origin

        async def body() -> AsyncIterator[bytes]:
            complete = False
            try:
                async for chunk in upstream_response.content.iter_any():
                    yield chunk
                complete = True
            except (aiohttp.ClientError, TimeoutError) as exc:
                logger.warning(
                    "%s: upstream %s failed mid-response: %s", operation.operation_id, origin, _describe(exc)
                )
                if not is_sse:
                    raise UpstreamStreamBroken(f"upstream {origin} failed mid-response") from exc
                yield sse_error_event(f"upstream {origin} failed mid-stream")
            finally:
                if complete:
                    upstream_response.release()
                else:
                    upstream_response.close()

        response = StreamingResponse(body(), status_code=upstream_response.status)
        response.raw_headers = client_response_headers(upstream_response.raw_headers)
        return response
