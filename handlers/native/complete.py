"""Handlers for `native.complete.*` operations (see spec/openapi.yaml)."""

from __future__ import annotations

import json

from connexion import request
from starlette.responses import Response

from gateway.legacy_complete import complete
from handlers.native import routed


async def create() -> Response:
    """POST /v1/complete: legacy Text Completions answered through the native Messages route."""
    return await complete(json.loads(await request.body()), routed)
