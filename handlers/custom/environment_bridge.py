"""Handlers for `custom.environment_bridge.*` operations (see spec/openapi.yaml); semantics: gateway.storage.bridge."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from gateway.runtime.service import runtime
from gateway.storage import bridge, sessions
from gateway.storage.service import store, workspace


async def register(body: dict[str, Any], **_: Any) -> dict[str, Any]:
    """POST /v1/environments/bridge"""
    return await bridge.register(store(), workspace(), body)


async def deregister(environment_id: str, **_: Any) -> Response:
    """DELETE /v1/environments/bridge/{environment_id}"""
    await bridge.deregister(store(), workspace(), environment_id)
    return Response(status_code=204)


async def reconnect(environment_id: str, body: dict[str, Any], **_: Any) -> Response:
    """POST /v1/environments/{environment_id}/bridge/reconnect: the session is queued on the environment again"""
    session_id = await bridge.reconnect(store(), workspace(), environment_id, str(body.get("session_id", "")))
    record = await sessions.KIND.get(store(), workspace(), session_id)
    await runtime().created(workspace(), sessions.response(record), initial_events=False)
    return Response(status_code=204)
