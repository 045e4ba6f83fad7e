"""Cursor pagination as the SDK's ``SyncPageCursor`` expects: ``limit`` + opaque ``page`` in, ``{data, next_page}``
out. A cursor names the position after the last item of the previous page (its sort key) and the list it belongs
to. A string the server cannot decode as a cursor (not ``page_<urlsafe base64 JSON>``) is a 400
``invalid_request_error``, as the docs say (the contract puts no pattern on ``page``: the SDK's own tests send other
strings; the list operations carry ``x-semantic-validation`` instead); a decodable cursor that is not ours, or belongs
to another list, names no page: 404 ``not_found_error``."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Any

import orjson

from gateway.errors import InvalidRequest, NotFound

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
PREFIX = "page_"


def page_size(limit: int | None, *, default: int = DEFAULT_LIMIT, maximum: int = MAX_LIMIT) -> int:
    """``limit`` when it is within 1..maximum (None: the default); out of range is a 400, never silently clamped
    (a client that asked for 0 or 10**20 items would otherwise page on forever or get fewer than it thinks)."""
    if limit is None:
        return default
    if not 1 <= int(limit) <= maximum:
        raise InvalidRequest(f"limit: must be between 1 and {maximum}")
    return int(limit)


clamp_limit = page_size  # the name before issue 17 (it clamped); sessions.py and session_events.py still use it


def bad_cursor() -> NotFound:
    return NotFound("page: no such page (invalid or expired page cursor)")


def undecodable_cursor() -> InvalidRequest:
    return InvalidRequest("page: not a page cursor (use a previous page's next_page or prev_page)")


def encode_cursor(kind: str, key: Sequence[Any]) -> str:
    raw = orjson.dumps({"k": kind, "p": list(key)})
    return PREFIX + base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str | None, kind: str) -> list[Any] | None:
    """The sort key in ``cursor`` (None when no cursor was given)."""
    if cursor is None or cursor == "":
        return None
    if not cursor.startswith(PREFIX):
        raise undecodable_cursor()
    body = cursor[len(PREFIX) :]
    try:
        data = orjson.loads(base64.b64decode(body + "=" * (-len(body) % 4), altchars=b"-_", validate=True))
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raise undecodable_cursor() from None
    if not isinstance(data, dict) or data.get("k") != kind or not isinstance(data.get("p"), list):
        raise bad_cursor()
    return list(data["p"])


def page(data: list[Any], next_page: str | None) -> dict[str, Any]:
    return {"data": data, "next_page": next_page}


def id_page(data: list[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    """The ``SyncPage`` envelope: ``{data, has_more, first_id, last_id}``."""
    return {
        "data": data,
        "has_more": has_more,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
    }
