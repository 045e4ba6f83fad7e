"""The status page (operationId ``custom.status.page``): HTML for a person, see :mod:`gateway.status_page`."""

from __future__ import annotations

from connexion import request
from starlette.responses import HTMLResponse

from gateway import status_page
from gateway.app import spec_document
from gateway.auth import SETTINGS_STATE


async def page() -> HTMLResponse:
    """GET /"""
    state = request.scope.get("state") or {}
    settings = state[SETTINGS_STATE]
    data = status_page.snapshot(settings, state, spec_document(settings).get("paths", {}))
    return HTMLResponse(status_page.render(data), headers={"cache-control": "no-store"})
