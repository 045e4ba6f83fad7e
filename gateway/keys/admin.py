"""The admin API over keys and spend (``/key/*``, ``/spend/*``), in LiteLLM proxy's shapes; master key only.

Request bodies are validated against the spec before they get here; this module turns them into key settings
(durations, expiry) and keys into answers (never with the secret, except ``/key/generate``'s ``key``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from gateway.errors import InvalidRequest, NotFound, PermissionDenied
from gateway.keys.model import VirtualKey, duration_seconds, key_hash, looks_like_virtual_key
from gateway.keys.service import MASTER_KEY_NAME, KeysService
from gateway.keys.store import SpendFilter, SpendRow
from gateway.storage.store import parse_rfc3339, rfc3339, utcnow

FIELDS = ("key_alias", "workspace", "models", "max_budget", "budget_duration", "rpm_limit", "tpm_limit", "metadata")
GROUPS = {"key": "key_id", "workspace": "workspace", "model": "model"}


def require_master(identity: Mapping[str, str]) -> None:
    """Only the master key (``general_settings.master_key``) manages keys and reads spend."""
    if identity.get("sub") != MASTER_KEY_NAME or identity.get("key_id"):
        raise PermissionDenied("the key and spend admin API needs the master key (general_settings.master_key)")


def _values(body: Mapping[str, Any]) -> dict[str, Any]:
    """Stored column values from a generate/update body (only the fields it has)."""
    values: dict[str, Any] = {}
    for name in FIELDS:
        if name in body:
            values["key_name" if name == "key_alias" else name] = body[name]
    if "workspace" in values and values["workspace"] is None:
        raise InvalidRequest("workspace: must be a string")
    if values.get("budget_duration") is not None:
        duration_seconds(values["budget_duration"])
        values["budget_duration"] = values["budget_duration"].strip()
    if "metadata" in values and values["metadata"] is None:
        values["metadata"] = {}
    if "blocked" in body:
        values["blocked"] = bool(body["blocked"])
    if body.get("duration") is not None and body.get("expires") is not None:
        raise InvalidRequest("give duration or expires, not both")
    if body.get("duration") is not None:
        values["expires"] = utcnow() + timedelta(seconds=duration_seconds(body["duration"], "duration"))
    elif "expires" in body:
        expires = body["expires"]
        parsed = None if expires is None else parse_rfc3339(str(expires))
        if expires is not None and parsed is None:
            raise InvalidRequest("expires: must be an RFC 3339 timestamp")
        values["expires"] = parsed
    elif "duration" in body:  # duration: null clears the expiry
        values["expires"] = None
    return values


def key_object(key: VirtualKey) -> dict[str, Any]:
    window = key.budget_window(utcnow())
    return {
        "token": key.id,
        "key_name": key.key_preview,
        "key_alias": key.key_name,
        "workspace": key.workspace,
        "models": list(key.models),
        "max_budget": key.max_budget,
        "budget_duration": key.budget_duration,
        "budget_reset_at": rfc3339(window[1]) if window is not None else None,
        "rpm_limit": key.rpm_limit,
        "tpm_limit": key.tpm_limit,
        "expires": rfc3339(key.expires),
        "metadata": key.metadata,
        "blocked": key.blocked,
        "spend": key.spend,
        "created_at": rfc3339(key.created_at),
        "updated_at": rfc3339(key.updated_at),
    }


async def _find(keys: KeysService, reference: str) -> VirtualKey:
    """A key named by its id or by the key itself."""
    if looks_like_virtual_key(reference):
        key = await keys.store.by_hash(key_hash(reference))
    else:
        key = await keys.store.get(reference)
    if key is None:
        raise NotFound("key: no such virtual key")
    return key


async def generate(keys: KeysService, body: Mapping[str, Any]) -> dict[str, Any]:
    key, plaintext = await keys.generate(_values(body))
    return {**key_object(key), "key": plaintext}


async def info(keys: KeysService, reference: str) -> dict[str, Any]:
    key = await _find(keys, reference)
    return {"key": key.id, "info": key_object(key)}


async def update(keys: KeysService, body: Mapping[str, Any]) -> dict[str, Any]:
    key = await _find(keys, str(body["key"]))
    updated = await keys.update(key.id, _values(body))
    if updated is None:
        raise NotFound("key: no such virtual key")
    return key_object(updated)


async def delete(keys: KeysService, references: list[str]) -> dict[str, Any]:
    ids = [(await _find(keys, r)).id for r in references]
    return {"deleted_keys": await keys.delete(ids)}


async def listing(keys: KeysService, page: int, size: int, workspace: str | None, full: bool) -> dict[str, Any]:
    found, total = await keys.store.page(workspace, page, size)
    return {
        "keys": [key_object(k) if full else k.id for k in found],
        "total_count": total,
        "current_page": page,
        "total_pages": max(1, math.ceil(total / size)),
    }


def _date(value: str | None, name: str, *, end: bool) -> datetime | None:
    if value is None:
        return None
    try:
        day = datetime.strptime(value, "%Y-%m-%d")
    except ValueError:
        parsed = parse_rfc3339(value)
        if parsed is None:
            raise InvalidRequest(f"{name}: must be YYYY-MM-DD or an RFC 3339 timestamp") from None
        return parsed
    return day + timedelta(days=1) if end else day


async def spend_filter(
    keys: KeysService,
    api_key: str | None,
    workspace: str | None,
    model: str | None,
    start_date: str | None,
    end_date: str | None,
) -> SpendFilter:
    key_id = api_key
    if api_key is not None and looks_like_virtual_key(api_key):
        key_id = (await _find(keys, api_key)).id
    return SpendFilter(
        key_id=key_id,
        workspace=workspace,
        model=model,
        start=_date(start_date, "start_date", end=False),
        end=_date(end_date, "end_date", end=True),
    )


def log_object(row: SpendRow) -> dict[str, Any]:
    prompt = row.input_tokens + row.cache_creation_input_tokens + row.cache_read_input_tokens
    return {
        "request_id": row.request_id,
        "api_key": row.key_id,
        "key_alias": row.key_name,
        "workspace": row.workspace,
        "model": row.model,
        "deployment": row.deployment,
        "spend": row.cost,
        "prompt_tokens": prompt,
        "completion_tokens": row.output_tokens,
        "cache_creation_input_tokens": row.cache_creation_input_tokens,
        "cache_read_input_tokens": row.cache_read_input_tokens,
        "total_tokens": prompt + row.output_tokens,
        "startTime": row.created_at.replace(tzinfo=UTC).isoformat(timespec="microseconds").replace("+00:00", "Z"),
    }


async def logs(keys: KeysService, where: SpendFilter, limit: int) -> list[dict[str, Any]]:
    return [log_object(row) for row in await keys.store.spend_logs(where, limit)]


async def totals(keys: KeysService, where: SpendFilter, group_by: str) -> dict[str, Any]:
    column = GROUPS[group_by]
    rows = await keys.store.totals(where, [column])
    return {
        "group_by": group_by,
        "totals": [
            {
                "group": str(row[column]),
                "requests": int(row["requests"]),
                "input_tokens": row["input_tokens"],
                "output_tokens": row["output_tokens"],
                "cache_creation_input_tokens": row["cache_creation_input_tokens"],
                "cache_read_input_tokens": row["cache_read_input_tokens"],
                "spend": row["cost"],
            }
            for row in rows
        ],
    }
