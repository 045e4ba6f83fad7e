"""The gateway's one error path: a small exception tree and one renderer for the Anthropic error envelope.

Every error response, whatever produced it (validation, routing, auth, body limits, handlers, crashes), has the body
``{"type": "error", "error": {"type": ..., "message": ..., "details"?: {...}}, "request_id": ...}`` and
``application/json``; ``details`` (machine-readable, e.g. ``error_code``, which the SDK reads) only when the error
has some.
Framework adapters that turn foreign exceptions into this envelope live in :mod:`gateway.error_handlers`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from starlette.responses import Response

# HTTP status -> Anthropic ``error.type``.
ERROR_TYPES: Mapping[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    409: "invalid_request_error",
    413: "request_too_large",
    415: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    500: "api_error",
    501: "api_error",
    502: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}

_DROPPED_HEADERS = frozenset({"content-type", "content-length"})


def error_type_for(status: int) -> str:
    """The Anthropic error type for ``status`` (unknown 4xx -> invalid_request_error, 5xx -> api_error)."""
    known = ERROR_TYPES.get(status)
    if known is not None:
        return known
    return "api_error" if status >= 500 else "invalid_request_error"


class GatewayError(Exception):
    """Base of every error the gateway raises on purpose.

    ``status`` and ``error_type`` are class attributes; ``retryable`` tells the routing layer whether a fallback
    deployment may be tried after this error.
    """

    status: int = 500
    error_type: str = "api_error"
    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        headers: Mapping[str, str] | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.headers: dict[str, str] = dict(headers or {})
        self.details: dict[str, Any] | None = dict(details) if details is not None else None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status}, message={self.message!r})"


class InvalidRequest(GatewayError):
    status = 400
    error_type = "invalid_request_error"


class AuthenticationFailed(GatewayError):
    status = 401
    error_type = "authentication_error"


class PermissionDenied(GatewayError):
    status = 403
    error_type = "permission_error"


class NotFound(GatewayError):
    status = 404
    error_type = "not_found_error"


class Conflict(GatewayError):
    status = 409
    error_type = "invalid_request_error"


class RequestTooLarge(GatewayError):
    status = 413
    error_type = "request_too_large"


class RateLimited(GatewayError):
    status = 429
    error_type = "rate_limit_error"
    retryable = True


class UpstreamError(GatewayError):
    status = 502
    error_type = "api_error"
    retryable = True


class UpstreamTimeout(GatewayError):
    status = 504
    error_type = "timeout_error"
    retryable = True


class Overloaded(GatewayError):
    status = 529
    error_type = "overloaded_error"
    retryable = True


class UpstreamStatus(GatewayError):
    """An upstream's own error answer, relayed with its status, ``error.type``, message and details (the native
    path's last answer when no deployment succeeded, or one that must not be retried)."""

    def __init__(
        self,
        status: int,
        error_type: str,
        message: str,
        *,
        headers: Mapping[str, str] | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message, headers=headers, details=details)
        self.status = status
        self.error_type = error_type


class NotImplementedOperation(GatewayError):
    """An operation of the contract that this gateway does not implement yet (an honest 501)."""

    status = 501
    error_type = "api_error"

    def __init__(
        self, operation_id: str, *, reason: str | None = None, headers: Mapping[str, str] | None = None
    ) -> None:
        why = f": {reason}" if reason else " (planned)"
        super().__init__(f"{operation_id} is not implemented yet in this gateway{why}", headers=headers)
        self.operation_id = operation_id


def error_body(
    error_type: str, message: str, request_id: str | None, details: Mapping[str, Any] | None = None
) -> bytes:
    """The serialized envelope."""
    error: dict[str, Any] = {"type": error_type, "message": message}
    if details is not None:
        error["details"] = dict(details)
    return orjson.dumps({"type": "error", "error": error, "request_id": request_id})


def clean_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    """Extra headers for an error response, without the ones the renderer owns."""
    return {k: v for k, v in (headers or {}).items() if k.lower() not in _DROPPED_HEADERS}


def render_error(
    status: int,
    error_type: str,
    message: str,
    request_id: str | None,
    headers: Mapping[str, str] | None = None,
    details: Mapping[str, Any] | None = None,
) -> Response:
    """Render the Anthropic error envelope as a Starlette response (the only place that writes one)."""
    return Response(
        content=error_body(error_type, message, request_id, details),
        status_code=status,
        media_type="application/json",
        headers=clean_headers(headers),
    )


def render_gateway_error(exc: GatewayError, request_id: str | None) -> Response:
    """Render one of our own exceptions."""
    return render_error(exc.status, exc.error_type, exc.message, request_id, exc.headers, exc.details)
