"""``GET /api/oauth/usage`` for a virtual key: its budget window as Claude Code's usage display expects it.

The key's budget window is reported as the ``five_hour`` or ``seven_day`` window (see
:func:`gateway.keys.limits.claim_of`) with ``utilization`` in percent and ``resets_at``; the other windows are null.
``gateway_spend`` adds the raw numbers (USD). A key without a budget reports every window as null.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.errors import AuthenticationFailed
from gateway.keys.limits import claim_of
from gateway.keys.model import looks_like_virtual_key
from gateway.keys.service import KeysService
from gateway.proxy.local import blank_usage
from gateway.storage.store import rfc3339


def presented_virtual_key(headers: Mapping[str, str]) -> str | None:
    """The virtual key in ``x-api-key`` or ``Authorization: Bearer``, if the request carries one."""
    token = headers.get("x-api-key") or ""
    if looks_like_virtual_key(token):
        return token
    scheme, _sep, value = (headers.get("authorization") or "").partition(" ")
    value = value.strip()
    return value if scheme.lower() == "bearer" and looks_like_virtual_key(value) else None


async def usage(keys: KeysService, token: str) -> dict[str, Any]:
    identity = await keys.identify(token)
    key = await keys.key(identity["key_id"]) if identity is not None else None
    if key is None:
        raise AuthenticationFailed("invalid API key for this gateway")
    answer = blank_usage()
    standing = await keys.standing(key, count_request=False)
    utilization = standing.utilization
    if utilization is not None:
        claim, _short = claim_of(key)
        answer[claim] = {"utilization": round(100.0 * utilization, 2), "resets_at": rfc3339(standing.reset)}
    answer["gateway_spend"] = {
        "key": key.id,
        "spend": standing.spend,
        "max_budget": key.max_budget,
        "budget_duration": key.budget_duration,
        "resets_at": rfc3339(standing.reset),
        "lifetime_spend": key.spend,
    }
    return answer
