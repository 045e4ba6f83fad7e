"""Handlers for `custom.spend.*` operations (see spec/openapi.yaml); semantics: gateway.keys.admin."""

from __future__ import annotations

from typing import Any

from gateway import services
from gateway.keys import admin
from gateway.keys.service import KEYS_STATE, KeysService, identity_of


def _keys() -> KeysService:
    admin.require_master(identity_of())
    service: KeysService = services.from_request(KEYS_STATE)
    return service


async def logs(
    api_key: str | None = None,
    workspace: str | None = None,
    model: str | None = None,
    start_date: str | None = None,
    end_date: str | None = None,
    limit: int = 1000,
    **_: Any,
) -> list[dict[str, Any]]:
    """GET /spend/logs"""
    keys = _keys()
    where = await admin.spend_filter(keys, api_key, workspace, model, start_date, end_date)
    return await admin.logs(keys, where, limit)


async def totals(
    group_by: str = "key",
    api_key: str | None = None,
    workspace: str | None = None,
    model: str | None = None,
    start_date: str | None = None,
    end_date: str | None = None,
    **_: Any,
) -> dict[str, Any]:
    """GET /spend/totals"""
    keys = _keys()
    where = await admin.spend_filter(keys, api_key, workspace, model, start_date, end_date)
    return await admin.totals(keys, where, group_by)
