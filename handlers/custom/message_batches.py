"""Handlers for `custom.message_batches.*` operations (see spec/openapi.yaml); semantics: gateway.storage.batches."""

from __future__ import annotations

from typing import Any

from connexion import request
from starlette.responses import StreamingResponse

from gateway import services
from gateway.errors import GatewayError
from gateway.storage import batches
from gateway.storage.service import store, workspace


def _base() -> str:
    return str(request.base_url)


def _runner() -> batches.BatchRunner:
    try:
        runner: batches.BatchRunner = services.from_request(batches.RUNNER_STATE)
    except KeyError:
        raise GatewayError("message batches are unavailable: the batch runner is not running in this gateway") from None
    return runner


async def list(
    limit: int | None = None, after_id: str | None = None, before_id: str | None = None, **_: Any
) -> dict[str, Any]:
    """GET /v1/messages/batches"""
    return await batches.list_batches(
        store(), workspace(), limit=limit, after_id=after_id, before_id=before_id, base=_base()
    )


async def create(body: dict[str, Any], **_: Any) -> dict[str, Any]:
    """POST /v1/messages/batches"""
    return await batches.create(store(), _runner(), workspace(), body, request.headers, _base())


async def retrieve(message_batch_id: str, **_: Any) -> dict[str, Any]:
    """GET /v1/messages/batches/{message_batch_id}"""
    return await batches.retrieve(store(), workspace(), message_batch_id, _base())


async def cancel(message_batch_id: str, **_: Any) -> dict[str, Any]:
    """POST /v1/messages/batches/{message_batch_id}/cancel"""
    return await batches.cancel(store(), workspace(), message_batch_id, _base())


async def delete(message_batch_id: str, **_: Any) -> dict[str, Any]:
    """DELETE /v1/messages/batches/{message_batch_id}"""
    return await batches.delete(store(), workspace(), message_batch_id)


async def results(message_batch_id: str, **_: Any) -> StreamingResponse:
    """GET /v1/messages/batches/{message_batch_id}/results: JSON Lines"""
    lines = await batches.results(store(), workspace(), message_batch_id)
    return StreamingResponse(lines, media_type="application/binary")
