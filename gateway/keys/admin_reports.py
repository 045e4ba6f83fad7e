"""Anthropic's Admin API reports at their documented paths, answered from the gateway's spend rows:
``GET /v1/organizations/usage_report/messages`` and ``GET /v1/organizations/cost_report`` (the installed SDK has no
method for them; it calls the ``/v1/organizations/analytics/*`` reports of :mod:`gateway.keys.reports`).

Time buckets oldest first from ``starting_at`` (snapped to the bucket) to ``ending_at`` (default: now), ``limit``
buckets a page (usage: ``1d`` 7 / at most 31, ``1h`` 24 / 168, ``1m`` 60 / 1440; cost: ``1d`` only, 7 / 31),
``has_more`` and ``next_page`` (the ``page`` of the next request). A bucket without usage has no results.

* Usage rows: ``uncached_input_tokens`` (input tokens), ``cache_creation.ephemeral_5m_input_tokens`` (the gateway
  records cache writes as one number), ``cache_read_input_tokens``, ``output_tokens``; ``group_by[]`` of
  ``api_key_id`` (the virtual key's id, ``config:<name>`` for a configuration key), ``workspace_id`` (the workspace
  name; null for ``default``, as Anthropic reports its default workspace) and ``model``, with the matching
  ``api_key_ids[]``, ``workspace_ids[]`` and ``models[]`` filters.
* Cost rows: ``amount`` in cents as a decimal string, ``currency`` ``USD``; ``group_by[]=workspace_id``.

Dimensions the gateway does not record (service tiers, context windows, geos, speeds, accounts, and the cost
report's ``description``, a cost per token type: one cost per call is recorded) are a 400 naming them, as filters and
as groupings, rather than numbers that would not mean what they say.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from gateway.errors import InvalidRequest
from gateway.keys.reports import Pages, _floor, _iso, _time, groupings, refuse_unrecorded
from gateway.keys.store import KeyStore, SpendRow
from gateway.storage.store import utcnow

WIDTHS = {"1d": (timedelta(days=1), 7, 31), "1h": (timedelta(hours=1), 24, 168), "1m": (timedelta(minutes=1), 60, 1440)}
USAGE_GROUPS = ("api_key_id", "workspace_id", "model")
COST_GROUPS = ("workspace_id",)
USAGE_FILTERS = {"api_key_ids": "api_key_id", "workspace_ids": "workspace_id", "models": "model"}
OWN = ("starting_at", "ending_at", "bucket_width", "group_by", "limit", "page", "beta", "token_info", "user")
DEFAULT_WORKSPACE = "default"


def _dimension(row: SpendRow, name: str) -> str | None:
    if name == "api_key_id":
        return row.key_id
    if name == "workspace_id":
        return None if row.workspace == DEFAULT_WORKSPACE else row.workspace
    return row.model


def _pages(kind: str, kwargs: Mapping[str, Any]) -> tuple[Pages, list[str]]:
    width_name = kwargs.get("bucket_width") or "1d"
    if kind == "cost" and width_name != "1d":
        raise InvalidRequest("bucket_width: the cost report has daily buckets only (1d)")
    width, default_limit, max_limit = WIDTHS[width_name]
    limit = kwargs.get("limit")
    if limit is not None and not 1 <= limit <= max_limit:
        raise InvalidRequest(f"limit: must be between 1 and {max_limit} for bucket_width {width_name}")
    groups = groupings(kwargs.get("group_by"), USAGE_GROUPS if kind == "usage" else COST_GROUPS)
    start = _floor(_time(kwargs["starting_at"], "starting_at"), width)
    ending_at = kwargs.get("ending_at")
    end = _time(ending_at, "ending_at") if ending_at is not None else utcnow()
    return Pages(width, start, end, kwargs.get("page"), limit or default_limit), groups


def _sorted(members: Mapping[tuple[str | None, ...], list[SpendRow]]) -> list[tuple[tuple[str | None, ...], Any]]:
    return sorted(members.items(), key=lambda item: tuple((v is not None, v or "") for v in item[0]))


async def messages_usage(store: KeyStore, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """``GET /v1/organizations/usage_report/messages``: one page."""
    filters = {k: v for k, v in kwargs.items() if k not in OWN}
    refuse_unrecorded(
        {k: v for k, v in filters.items() if k not in USAGE_FILTERS}, "api_key_ids[], workspace_ids[], models[]"
    )
    wanted = {USAGE_FILTERS[k]: set(v) for k, v in filters.items() if k in USAGE_FILTERS and v}
    pages, groups = _pages("usage", kwargs)
    rows = [
        row
        for row in await pages.rows(store)
        if all(_dimension(row, name) in values for name, values in wanted.items())
    ]
    data = []
    for (start, end), members in pages.bucketed(rows, lambda row: tuple(_dimension(row, g) for g in groups)):
        results = [_usage(dict(zip(groups, key, strict=True)), group) for key, group in _sorted(members)]
        data.append({"starting_at": _iso(start), "ending_at": _iso(end), "results": results})
    return {"data": data, **pages.tail()}


async def cost(store: KeyStore, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """``GET /v1/organizations/cost_report``: one page."""
    refuse_unrecorded({k: v for k, v in kwargs.items() if k not in OWN}, "none")
    if "description" in (kwargs.get("group_by") or ()):
        raise InvalidRequest(
            "group_by[]: description is not recorded by this gateway (it records one cost per call, not per token "
            "type; GET /v1/organizations/analytics/cost_report?group_by[]=model gives the cost per model)"
        )
    pages, groups = _pages("cost", kwargs)
    data = []
    rows = await pages.rows(store)
    for (start, end), members in pages.bucketed(rows, lambda row: tuple(_dimension(row, g) for g in groups)):
        results = [_cost(dict(zip(groups, key, strict=True)), group) for key, group in _sorted(members)]
        data.append({"starting_at": _iso(start), "ending_at": _iso(end), "results": results})
    return {"data": data, **pages.tail()}


def _usage(group: dict[str, str | None], rows: list[SpendRow]) -> dict[str, Any]:
    return {
        "api_key_id": group.get("api_key_id"),
        "workspace_id": group.get("workspace_id"),
        "model": group.get("model"),
        "service_tier": None,
        "context_window": None,
        "uncached_input_tokens": sum(r.input_tokens for r in rows),
        "cache_creation": {
            "ephemeral_1h_input_tokens": 0,
            "ephemeral_5m_input_tokens": sum(r.cache_creation_input_tokens for r in rows),
        },
        "cache_read_input_tokens": sum(r.cache_read_input_tokens for r in rows),
        "output_tokens": sum(r.output_tokens for r in rows),
        "server_tool_use": {"web_search_requests": 0},
    }


def _cost(group: dict[str, str | None], rows: list[SpendRow]) -> dict[str, Any]:
    return {
        "amount": f"{sum(r.cost for r in rows) * 100:.6f}",
        "currency": "USD",
        "workspace_id": group.get("workspace_id"),
        "description": None,
        "cost_type": None,
        "context_window": None,
        "model": None,
        "service_tier": None,
        "token_type": None,
    }
