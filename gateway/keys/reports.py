"""Anthropic's Admin API usage and cost reports (``GET /v1/organizations/analytics/usage_report`` and
``cost_report``, the SDK's ``beta.organization.analytics`` resources), answered from the gateway's spend rows.

Time buckets of ``bucket_width`` (``1d``: default 7 per page, at most 31; ``1h``: 24 / 168; ``1m``: 60 / 256) from
``starting_at`` (rounded down to the bucket) to ``ending_at`` (default: the earlier of now and ``starting_at`` + 31
days). Each bucket holds one combined row, or one row per model with ``group_by[]=model`` (the cost report also
accepts ``cost_type``: every recorded cost is ``tokens``). Dimensions the gateway does not record (products, Slack
channels, RBAC groups, users, geos, speeds, context windows) are refused with a 400 naming them, as filters and as
groupings, rather than answered with numbers that would not mean what they say.

What the rows hold: ``uncached_input_tokens`` (input tokens), cache writes as ``ephemeral_5m_input_tokens`` (the
gateway records cache writes as one number), ``cache_read_input_tokens``, ``output_tokens``, ``requests``; cost as
``amount`` and ``list_amount`` in fractional US cents (the same value: the gateway knows no discounts).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from gateway.errors import InvalidRequest
from gateway.keys.store import KeyStore, SpendFilter, SpendRow
from gateway.storage.store import parse_rfc3339, utcnow

WIDTHS = {"1d": (timedelta(days=1), 7, 31), "1h": (timedelta(hours=1), 24, 168), "1m": (timedelta(minutes=1), 60, 256)}
MAX_RANGE = timedelta(days=31)
GROUPINGS = {"usage": ("model",), "cost": ("model", "cost_type")}


def _time(value: str, name: str) -> datetime:
    parsed = parse_rfc3339(value)
    if parsed is None:
        raise InvalidRequest(f"{name}: must be an RFC 3339 timestamp")
    return parsed


def _floor(moment: datetime, width: timedelta) -> datetime:
    epoch = datetime(1970, 1, 1)
    steps = (moment - epoch) // width
    return epoch + steps * width


def _iso(moment: datetime) -> str:
    return moment.replace(tzinfo=UTC).isoformat().replace("+00:00", "Z")


def _cursor(moment: datetime) -> str:
    return base64.urlsafe_b64encode(_iso(moment).encode()).decode().rstrip("=")


def _from_cursor(page: str) -> datetime:
    try:
        text = base64.urlsafe_b64decode(page + "=" * (-len(page) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        raise InvalidRequest("page: not a cursor this server issued") from None
    parsed = parse_rfc3339(text)
    if parsed is None:
        raise InvalidRequest("page: not a cursor this server issued")
    return parsed


PARAMETERS = ("starting_at", "ending_at", "bucket_width", "group_by", "models", "limit", "page")
NOT_FILTERS = ("beta", "token_info", "user")


def arguments(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The report's own arguments from a handler's keyword arguments; any other (unrecorded) dimension is refused."""
    refuse_unrecorded({k: v for k, v in kwargs.items() if k not in PARAMETERS and k not in NOT_FILTERS})
    return {name: kwargs.get(name) for name in PARAMETERS}


def groupings(group_by: Iterable[str] | None, supported: Iterable[str]) -> list[str]:
    """The requested groupings (each once); a 400 naming any the gateway does not record."""
    groups = list(dict.fromkeys(group_by or ()))
    known = tuple(supported)
    unknown = [g for g in groups if g not in known]
    if unknown:
        raise InvalidRequest(
            f"group_by[]: {', '.join(unknown)} is not recorded by this gateway (supported: {', '.join(known)})"
        )
    return groups


def refuse_unrecorded(filters: Mapping[str, Any], supported: str = "models[]") -> None:
    """A 400 naming any filter on a dimension the gateway does not record."""
    given = sorted(name for name, value in filters.items() if value)
    if given:
        raise InvalidRequest(
            f"{', '.join(given)}: this gateway does not record that dimension (filters supported: {supported})"
        )


async def report(
    store: KeyStore,
    kind: str,
    *,
    starting_at: str,
    ending_at: str | None,
    bucket_width: str | None,
    group_by: Iterable[str] | None,
    models: Iterable[str] | None,
    limit: int | None,
    page: str | None,
) -> dict[str, Any]:
    """One page of the ``kind`` ("usage" or "cost") report."""
    width, default_limit, max_limit = WIDTHS[bucket_width or "1d"]
    groups = groupings(group_by, GROUPINGS[kind])
    if limit is not None and not 1 <= limit <= max_limit:
        raise InvalidRequest(f"limit: must be between 1 and {max_limit} for bucket_width {bucket_width or '1d'}")
    start = _floor(_time(starting_at, "starting_at"), width)
    end = _time(ending_at, "ending_at") if ending_at is not None else min(utcnow(), start + MAX_RANGE)
    if end - start > MAX_RANGE:
        raise InvalidRequest("ending_at: the range may span at most 31 days")
    pages = Pages(width, start, end, page, limit or default_limit)
    wanted = set(models or ())
    rows = [row for row in await pages.rows(store) if not wanted or row.model in wanted]
    buckets = pages.bucketed(rows, lambda row: tuple(row.model if g == "model" else "tokens" for g in groups))
    data = []
    for (bucket_start, bucket_end), members in buckets:
        results = [_result(kind, dict(zip(groups, key, strict=True)), group) for key, group in sorted(members.items())]
        data.append({"starting_at": _iso(bucket_start), "ending_at": _iso(bucket_end), "results": results})
    return {**pages.tail(), "data": data, "data_refreshed_at": _iso(utcnow())}


class Pages:
    """One page of time buckets of ``width`` from ``start`` (already snapped) to ``end``: at most ``count`` buckets
    from the ``page`` cursor; the spend rows they hold, and ``has_more`` / ``next_page``."""

    def __init__(self, width: timedelta, start: datetime, end: datetime, page: str | None, count: int) -> None:
        if end <= start:
            raise InvalidRequest("ending_at: must be after starting_at")
        first = _from_cursor(page) if page is not None else start
        if not start <= first < end:
            raise InvalidRequest("page: not a cursor of this report")
        self.width, self.start, self.end = width, start, end
        self.edges: list[tuple[datetime, datetime]] = []
        moment = first
        while moment < end and len(self.edges) < count:
            self.edges.append((moment, min(moment + width, end)))
            moment += width
        self.next = moment

    async def rows(self, store: KeyStore) -> list[SpendRow]:
        return await store.spend_logs(SpendFilter(start=self.edges[0][0], end=self.edges[-1][1]), limit=1_000_000)

    def bucketed(
        self, rows: Iterable[SpendRow], key: Callable[[SpendRow], tuple[str | None, ...]]
    ) -> list[tuple[tuple[datetime, datetime], dict[tuple[str | None, ...], list[SpendRow]]]]:
        """The page's buckets, each with its rows grouped by ``key``."""
        buckets: dict[datetime, dict[tuple[str | None, ...], list[SpendRow]]] = {s: {} for s, _e in self.edges}
        for row in rows:
            bucket = _floor(row.created_at, self.width) if row.created_at >= self.start else self.start
            if bucket in buckets:
                buckets[bucket].setdefault(key(row), []).append(row)
        return [(edge, buckets[edge[0]]) for edge in self.edges]

    def tail(self) -> dict[str, Any]:
        more = self.next < self.end
        return {"has_more": more, "next_page": _cursor(self.next) if more else None}


def _result(kind: str, group: dict[str, str | None], rows: list[SpendRow]) -> dict[str, Any]:
    if kind == "cost":
        cents = sum(r.cost for r in rows) * 100
        return {
            **group,
            "currency": "USD",
            "amount": f"{cents:.6f}",
            "list_amount": f"{cents:.6f}",
            "requests": len(rows),
        }
    return {
        **group,
        "uncached_input_tokens": sum(r.input_tokens for r in rows),
        "cache_creation": {
            "ephemeral_5m_input_tokens": sum(r.cache_creation_input_tokens for r in rows),
            "ephemeral_1h_input_tokens": 0,
        },
        "cache_read_input_tokens": sum(r.cache_read_input_tokens for r in rows),
        "output_tokens": sum(r.output_tokens for r in rows),
        "server_tool_use": {"web_search_requests": 0},
        "requests": len(rows),
    }
