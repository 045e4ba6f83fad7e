"""Health endpoints, answered locally (operationIds ``stub.health.*``)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from gateway import __version__, services


async def healthcheck() -> dict[str, str]:
    """GET /healthcheck"""
    return {"status": "healthy", "version": __version__}


async def liveliness() -> dict[str, str]:
    """GET /health/liveliness"""
    return {"status": "alive"}


async def readiness() -> dict[str, Any]:
    """GET /health/readiness: the database, Redis when configured, and the drain state (gateway.ops.health); the
    spec loaded, or the app would not have started."""
    ops = services.optional_from_request("ops")
    result: dict[str, Any] = await ops.readiness() if ops is not None else {"status": "ready", "checks": {}}
    result["checks"] = {"spec": {"status": "ok", "detail": None}, **result["checks"]}
    return result


async def root_head() -> Response:
    """HEAD /"""
    return Response(status_code=200)
