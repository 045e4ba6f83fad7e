"""Handlers for `custom.user_profiles.*` operations (see spec/openapi.yaml); semantics:
gateway.storage.user_profiles."""

from __future__ import annotations

from typing import Any

from gateway.storage import user_profiles
from gateway.storage.service import store, workspace


def _base_url() -> str:
    """The base URL this request reached the gateway at (links handed out point back here)."""
    from connexion import request

    return str(request.base_url)


async def list(
    limit: int | None = None,
    page: str | None = None,
    order: str | None = None,
    order_by: str | None = None,
    **_: Any,
) -> dict[str, Any]:
    """GET /v1/user_profiles"""
    return await user_profiles.list_profiles(
        store(), workspace(), limit=limit, page_cursor=page, order=order, order_by=order_by
    )


async def create(body: dict[str, Any] | None = None, **_: Any) -> dict[str, Any]:
    """POST /v1/user_profiles"""
    return await user_profiles.create(store(), workspace(), body or {})


async def retrieve(user_profile_id: str, **_: Any) -> dict[str, Any]:
    """GET /v1/user_profiles/{user_profile_id}"""
    return await user_profiles.retrieve(store(), workspace(), user_profile_id)


async def update(user_profile_id: str, body: dict[str, Any] | None = None, **_: Any) -> dict[str, Any]:
    """POST /v1/user_profiles/{user_profile_id}"""
    return await user_profiles.update(store(), workspace(), user_profile_id, body or {})


async def delete(user_profile_id: str, **_: Any) -> dict[str, Any]:
    """DELETE /v1/user_profiles/{user_profile_id}"""
    return await user_profiles.delete(store(), workspace(), user_profile_id)


async def create_enrollment_url(user_profile_id: str, **_: Any) -> dict[str, Any]:
    """POST /v1/user_profiles/{user_profile_id}/enrollment_url"""
    return await user_profiles.create_enrollment_url(store(), workspace(), user_profile_id, _base_url())
