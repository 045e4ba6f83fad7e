"""Handlers for `custom.user_profile_data_controls.*` operations (see spec/openapi.yaml); semantics:
gateway.storage.user_profiles."""

from __future__ import annotations

from typing import Any

from gateway.storage import user_profiles
from gateway.storage.service import store, workspace


async def retrieve(user_profile_id: str, **_: Any) -> dict[str, Any]:
    """GET /v1/user_profiles/{user_profile_id}/providers/google/data_controls"""
    return await user_profiles.retrieve_data_controls(store(), workspace(), user_profile_id)


async def update(user_profile_id: str, body: dict[str, Any] | None = None, **_: Any) -> dict[str, Any]:
    """POST /v1/user_profiles/{user_profile_id}/providers/google/data_controls"""
    return await user_profiles.update_data_controls(store(), workspace(), user_profile_id, body or {})
