"""Health endpoints, answered locally (operationIds ``stub.health.*``)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from gateway import __version__


async def healthcheck() -> dict[str, str]:
    """GET /healthcheck"""
    return {"status": "healthy", "version": __version__}


async def liveliness() -> dict[str, str]:
    """GET /health/liveliness"""
    return {"status": "alive"}


async def readiness() -> dict[str, Any]:
    """GET /health/readiness (the spec loaded, or the app would not have started)."""
    return {"status": "ready", "checks": {"spec": {"status": "ok", "detail": None}}}


async def root_head() -> Response:
    """HEAD /"""
    return Response(status_code=200)
