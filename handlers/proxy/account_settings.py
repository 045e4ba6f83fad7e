"""Handlers for `proxy.account_settings.*`: forwarded, or stored locally (category ``account_settings``)."""

from __future__ import annotations

from typing import Any

from gateway.proxy.service import dispatch


async def get() -> Any:
    """GET /api/oauth/account/settings"""
    return await dispatch("proxy.account_settings.get", lambda local, _r: local.account_settings())


async def update() -> Any:
    """PATCH /api/oauth/account/settings"""
    return await dispatch("proxy.account_settings.update", lambda local, r: local.update_account_settings(r))
