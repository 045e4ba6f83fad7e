"""Request ids: ``req_`` + 24 random base62 characters, one per HTTP request, kept in ``scope["state"]``."""

from __future__ import annotations

import secrets
import string
from typing import Any

from starlette.types import Scope

_ALPHABET = string.digits + string.ascii_letters
_LENGTH = 24
STATE_KEY = "request_id"


def new_request_id() -> str:
    """Return a fresh id such as ``req_4fZk0qg2mX1L9aBcDeFgHiJk`` (one read of the OS random source, not 24)."""
    number = int.from_bytes(secrets.token_bytes(18), "big")  # 144 bits >= 24 base62 digits (142.9 bits)
    chars = []
    for _ in range(_LENGTH):
        number, digit = divmod(number, 62)
        chars.append(_ALPHABET[digit])
    return "req_" + "".join(chars)


def scope_state(scope: Scope) -> dict[str, Any]:
    """The per-request state dict of ``scope`` (created when the server gave none)."""
    state = scope.get("state")
    if state is None:
        state = scope["state"] = {}
    return state


def request_id_for(scope: Scope) -> str:
    """The request id of ``scope``; assigns one when no middleware did (e.g. the connexion app alone)."""
    state = scope_state(scope)
    rid = state.get(STATE_KEY)
    if not isinstance(rid, str):
        rid = state[STATE_KEY] = new_request_id()
    return rid
