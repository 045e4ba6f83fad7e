"""Handlers for `custom.user_profile_action_urls.*` operations (see spec/openapi.yaml); semantics:
gateway.storage.user_profiles."""

from __future__ import annotations

from typing import Any

from gateway.storage import user_profiles
from gateway.storage.service import store, workspace


def _base_url() -> str:
    """The base URL this request reached the gateway at (links handed out point back here)."""
    from connexion import request

    return str(request.base_url)


async def create(user_profile_id: str, body: dict[str, Any] | None = None, **_: Any) -> dict[str, Any]:
    """POST /v1/user_profiles/{user_profile_id}/action_urls"""
    return await user_profiles.create_action_url(store(), workspace(), user_profile_id, _base_url(), body or {})
