"""Handlers for `native.models.*` operations (see spec/openapi.yaml)."""

from __future__ import annotations

from typing import Any

from gateway import services
from gateway.native import STATE, NativeService


async def list(limit: int = 20, after_id: str | None = None, before_id: str | None = None, **_: Any) -> dict[str, Any]:
    """GET /v1/models: the client-facing claude-* ids the routing serves, in Anthropic's list shape."""
    native: NativeService = services.from_request(STATE)
    return native.list_models(limit=limit, after_id=after_id, before_id=before_id)


async def retrieve(model_id: str, **_: Any) -> dict[str, Any]:
    """GET /v1/models/{model_id}"""
    native: NativeService = services.from_request(STATE)
    return native.model(model_id)
