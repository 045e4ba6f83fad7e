"""Handlers for `proxy.bootstrap.*`: forwarded, or answered from config and the routing table (``bootstrap``)."""

from __future__ import annotations

from typing import Any

from gateway.proxy.service import dispatch


async def cli_bootstrap() -> Any:
    """GET /api/claude_cli/bootstrap (local: model options from routing.models / model_list)"""
    return await dispatch("proxy.bootstrap.cli_bootstrap", lambda local, _r: local.cli_bootstrap())


async def web_bootstrap() -> Any:
    """GET /api/bootstrap (claude.ai; the only operation that forwards cookies)"""
    return await dispatch("proxy.bootstrap.web_bootstrap", lambda local, _r: local.web_bootstrap())
