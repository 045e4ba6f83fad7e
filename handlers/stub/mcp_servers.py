"""Handlers for `stub.mcp_servers.*`: the connector list, from `passthrough.local.mcp_servers`."""

from __future__ import annotations

from typing import Any

from gateway.proxy.service import local_stub


async def list(limit: int = 1000, page: str | None = None) -> Any:
    """GET /v1/mcp_servers"""
    return await local_stub(lambda local, _r: local.mcp_servers(limit, page))
