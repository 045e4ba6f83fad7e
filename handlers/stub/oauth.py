"""Handlers for `stub.oauth.*`: the reachability probe, always answered by the gateway itself."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from gateway.proxy.service import local_stub


async def hello() -> Any:
    """GET /api/hello"""
    return await local_stub(lambda local, _r: local.hello(), authorize=False)


async def hello_head() -> Response:
    """HEAD /api/hello (start-up preconnect; the answer is ignored)"""
    return Response(status_code=200)
