"""Handlers for `proxy.oauth.*`: forwarded to Anthropic, or answered from the local account (category ``oauth``)."""

from __future__ import annotations

from typing import Any

from connexion import request

from gateway import services
from gateway.keys import usage as key_usage
from gateway.keys.service import KEYS_STATE
from gateway.proxy.service import dispatch


async def profile() -> Any:
    """GET /api/oauth/profile"""
    return await dispatch("proxy.oauth.profile", lambda local, _r: local.profile())


async def cli_profile(account_uuid: str) -> Any:
    """GET /api/claude_cli_profile"""
    return await dispatch("proxy.oauth.cli_profile", lambda local, _r: local.cli_profile(account_uuid))


async def roles() -> Any:
    """GET /api/oauth/claude_cli/roles"""
    return await dispatch("proxy.oauth.roles", lambda local, _r: local.roles())


async def usage() -> Any:
    """GET /api/oauth/usage (a virtual key: its budget, gateway.keys.usage; local: the gateway's request accounting)"""
    token = key_usage.presented_virtual_key(request.headers)
    keys = services.optional_from_request(KEYS_STATE)
    if token is not None and keys is not None:
        return await key_usage.usage(keys, token)
    return await dispatch("proxy.oauth.usage", lambda local, _r: local.usage())


async def create_api_key() -> Any:
    """POST /api/oauth/claude_cli/create_api_key (local: 403, no key minting here)"""

    def refuse(local: Any, _r: Any) -> Any:
        raise local.no_oauth_server("minting an API key")

    return await dispatch("proxy.oauth.create_api_key", refuse)


async def token() -> Any:
    """POST /v1/oauth/token (local: 403, no OAuth server here)"""

    def refuse(local: Any, _r: Any) -> Any:
        raise local.no_oauth_server("an OAuth token exchange")

    return await dispatch("proxy.oauth.token", refuse)
