"""Handlers for `custom.keys.*` operations (see spec/openapi.yaml); semantics: gateway.keys.admin."""

from __future__ import annotations

from typing import Any

from gateway import services
from gateway.keys import admin
from gateway.keys.service import KEYS_STATE, KeysService, identity_of


def _keys() -> KeysService:
    admin.require_master(identity_of())
    service: KeysService = services.from_request(KEYS_STATE)
    return service


async def generate(body: dict[str, Any] | None = None, **_: Any) -> dict[str, Any]:
    """POST /key/generate"""
    return await admin.generate(_keys(), body or {})


async def info(key: str, **_: Any) -> dict[str, Any]:
    """GET /key/info"""
    return await admin.info(_keys(), key)


async def update(body: dict[str, Any], **_: Any) -> dict[str, Any]:
    """POST /key/update"""
    return await admin.update(_keys(), body)


async def delete(body: dict[str, Any], **_: Any) -> dict[str, Any]:
    """POST /key/delete"""
    return await admin.delete(_keys(), [str(k) for k in body["keys"]])


async def list(
    page: int = 1, size: int = 10, workspace: str | None = None, return_full_object: bool = False, **_: Any
) -> dict[str, Any]:
    """GET /key/list"""
    return await admin.listing(_keys(), page, size, workspace, bool(return_full_object))
