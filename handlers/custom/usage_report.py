"""Handlers for `custom.usage_report.*` operations (see spec/openapi.yaml); semantics:
gateway.keys.reports (the SDK's analytics paths) and gateway.keys.admin_reports (the documented Admin API paths)."""

from __future__ import annotations

from typing import Any

from gateway import services
from gateway.keys import admin, admin_reports, reports
from gateway.keys.service import KEYS_STATE, KeysService, identity_of


def _keys() -> KeysService:
    admin.require_master(identity_of())
    service: KeysService = services.from_request(KEYS_STATE)
    return service


async def list(**kwargs: Any) -> dict[str, Any]:
    """GET /v1/organizations/analytics/usage_report"""
    return await reports.report(_keys().store, "usage", **reports.arguments(kwargs))


async def messages(**kwargs: Any) -> dict[str, Any]:
    """GET /v1/organizations/usage_report/messages (Anthropic's Admin API shape)"""
    return await admin_reports.messages_usage(_keys().store, kwargs)
