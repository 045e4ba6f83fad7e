"""Adapters from framework exceptions to the one error envelope (:func:`gateway.errors.render_error`).

Registered on the connexion app for our :class:`GatewayError`, connexion's ``ProblemException`` (validation, auth),
starlette's ``HTTPException`` (404 unknown path, 405 with an ``Allow`` computed from the whole spec) and any other
``Exception`` (500, logged with its traceback, never shown to the client). Messages never quote header values.
"""

from __future__ import annotations

import http
import logging
import re
from typing import Any

from connexion.exceptions import ProblemException
from connexion.lifecycle import ConnexionResponse
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

from gateway.errors import GatewayError, clean_headers, error_type_for, render_error, render_gateway_error
from gateway.request_id import request_id_for
from gateway.spec import AllowIndex

logger = logging.getLogger(__name__)

MAX_PATH_CHARS = 200
MAX_DETAIL_CHARS = 1000
INTERNAL_ERROR = "internal server error"
# connexion's fixed 401 details -> ours (never the credential itself)
AUTH_MESSAGES = {
    "No authorization token provided": "missing API key: send it in the x-api-key header",
    "Provided apikey is not valid": "invalid x-api-key",
    "Provided token is not valid": "invalid bearer token",
    "Invalid authorization header": "invalid Authorization header",
    "Provided authorization is not valid": "invalid gateway key (HTTP Basic password)",
}
# the status page (GET /) asks a browser for the gateway key: HTTP Basic, the key as the password
STATUS_PAGE_CHALLENGE = {"WWW-Authenticate": 'Basic realm="litellm-gateway status", charset="UTF-8"'}
_EXPECTED_TYPES = re.compile(r"expected \[(.*)\]\s*$")


def _to_connexion(response: Response) -> Any:
    """connexion's error-handler wrapper rebuilds a Starlette response from these four attributes."""
    return ConnexionResponse(
        status_code=response.status_code,
        mimetype="application/json",
        body=bytes(response.body),
        headers=clean_headers(dict(response.headers)),
    )


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def _route_path(scope: Scope) -> str:
    path: str = scope.get("path", "")
    root = scope.get("root_path", "")
    if root and path.startswith(root + "/"):
        return path[len(root) :]
    return path


def problem_message(exc: ProblemException) -> str:
    """The client-facing message for a connexion problem: first paragraph of the detail, sanitised."""
    status = int(exc.status)
    detail = str(exc.detail or exc.title or "").split("\n\n", 1)[0].strip()
    if status == 401:
        return AUTH_MESSAGES.get(detail, "authentication failed")
    if status == 415:  # connexion's text quotes the Content-Type header; keep only what the operation accepts
        m = _EXPECTED_TYPES.search(detail)
        accepted = ", ".join(t.strip().strip("'\"") for t in m[1].split(",")) if m else ""
        return "unsupported Content-Type" + (f"; expected {accepted}" if accepted else "")
    if status >= 500:
        return INTERNAL_ERROR
    return _short(detail or http.HTTPStatus(status).phrase, MAX_DETAIL_CHARS)


class ErrorHandlers:
    """The handlers, bound to the spec's method table (for ``Allow``)."""

    def __init__(self, allow_index: AllowIndex) -> None:
        self.allow_index = allow_index

    def install(self, app: Any) -> None:
        """Register on a connexion app (``app.add_error_handler``)."""
        app.add_error_handler(GatewayError, self.on_gateway_error)
        app.add_error_handler(ProblemException, self.on_problem)
        app.add_error_handler(HTTPException, self.on_http_exception)
        app.add_error_handler(Exception, self.on_unhandled)

    async def on_gateway_error(self, request: Any, exc: GatewayError) -> Any:
        log = logger.warning if exc.status >= 502 else logger.info  # 501 (planned) is expected, not a warning
        log("%s %s -> %d %s", request.method, _short(request.scope["path"], MAX_PATH_CHARS), exc.status, exc.message)
        return _to_connexion(render_gateway_error(exc, request_id_for(request.scope)))

    async def on_problem(self, request: Any, exc: ProblemException) -> Any:
        status = int(exc.status)
        if status >= 500:
            logger.error("%s %s -> %d %s", request.method, request.scope["path"], status, exc.detail)
        message = problem_message(exc)
        headers = clean_headers(exc.headers)
        if status == 401 and request.method == "GET" and _route_path(request.scope) == "/":
            headers = {**(headers or {}), **STATUS_PAGE_CHALLENGE}
        response = render_error(status, error_type_for(status), message, request_id_for(request.scope), headers)
        return _to_connexion(response)

    async def on_http_exception(self, request: Any, exc: HTTPException) -> Any:
        return _to_connexion(self.http_exception_response(request.scope, request.method, exc))

    def http_exception_response(self, scope: Scope, method: str, exc: HTTPException) -> Response:
        status = exc.status_code
        path = _short(scope.get("path", ""), MAX_PATH_CHARS)
        headers = clean_headers(exc.headers)
        if status == 404:
            message = f"unknown endpoint: {method} {path}"
        elif status == 405:
            allowed = self.allow_index.allowed(_route_path(scope))
            if not allowed:  # not in the spec (e.g. a framework route): trust the router
                allowed = [m.strip() for m in (exc.headers or {}).get("Allow", "").split(",") if m.strip()]
            headers = {k: v for k, v in headers.items() if k.lower() != "allow"}
            headers["Allow"] = ", ".join(allowed)
            message = f"method {method} is not allowed on {path}; allowed: {headers['Allow'] or 'none'}"
        elif status >= 500:
            logger.error("%s %s -> %d %s", method, path, status, exc.detail)
            message = INTERNAL_ERROR
        else:
            message = _short(str(exc.detail or http.HTTPStatus(status).phrase), MAX_DETAIL_CHARS)
        return render_error(status, error_type_for(status), message, request_id_for(scope), headers)

    async def on_unhandled(self, request: Any, exc: Exception) -> Any:
        return _to_connexion(unhandled_response(request.scope, request.method, exc))


def unhandled_response(scope: Scope, method: str, exc: Exception) -> Response:
    """500 for a crash: the traceback goes to the log, the client sees only ``internal server error``."""
    request_id = request_id_for(scope)
    logger.error(
        "unhandled exception on %s %s (request %s)",
        method,
        _short(scope.get("path", ""), MAX_PATH_CHARS),
        request_id,
        exc_info=exc,
    )
    return render_error(500, "api_error", INTERNAL_ERROR, request_id)


async def starlette_unhandled(request: Request, exc: Exception) -> Response:
    """Last-resort handler for the outer Starlette app (errors that escaped connexion)."""
    return unhandled_response(request.scope, request.method, exc)
