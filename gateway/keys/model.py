"""A virtual key as the gateway sees it, the key format, and budget windows.

A key is ``sk-gw-key-`` + 43 URL-safe characters (256 random bits). Only its SHA-256 is stored; the plaintext is
shown once, in the ``/key/generate`` answer. ``key_preview`` (the prefix and the last four characters) lets a person
recognise a key in a list.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from gateway.errors import InvalidRequest

KEY_PREFIX = "sk-gw-key-"
_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d|w|mo)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "mo": 30 * 86400}
MAX_DURATION_SECONDS = 100 * 365 * 86400


def looks_like_virtual_key(token: str) -> bool:
    return token.startswith(KEY_PREFIX)


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def key_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def preview(token: str) -> str:
    return f"{KEY_PREFIX}...{token[-4:]}"


def duration_seconds(value: str, path: str = "budget_duration") -> int:
    """LiteLLM's budget durations: ``30s``, ``10m``, ``24h``, ``30d``, ``1w``, ``1mo`` (30 days)."""
    match = _DURATION.match(value)
    seconds = int(match[1]) * _UNITS[match[2]] if match is not None else 0
    if not 0 < seconds <= MAX_DURATION_SECONDS:
        raise InvalidRequest(f"{path}: must be a duration up to 100 years such as 30s, 10m, 24h, 30d, 1w or 1mo")
    return seconds


@dataclass(frozen=True)
class VirtualKey:
    id: str
    key_hash: str = field(repr=False)
    key_preview: str
    key_name: str | None
    workspace: str
    models: tuple[str, ...]
    max_budget: float | None
    budget_duration: str | None
    rpm_limit: int | None
    tpm_limit: int | None
    expires: datetime | None
    metadata: dict[str, Any]
    blocked: bool
    spend: float
    created_at: datetime
    updated_at: datetime

    def expired(self, now: datetime) -> bool:
        return self.expires is not None and self.expires <= now

    def budget_window(self, now: datetime) -> tuple[datetime, datetime] | None:
        """(start, reset) of the budget window holding ``now``: windows of ``budget_duration`` counted from the key's
        creation. None without a duration (the budget is for the key's lifetime)."""
        if self.budget_duration is None:
            return None
        seconds = duration_seconds(self.budget_duration)
        elapsed = max(0.0, (now - self.created_at).total_seconds())
        start = self.created_at + timedelta(seconds=(elapsed // seconds) * seconds)
        return start, start + timedelta(seconds=seconds)

    def allows(self, model: str, group: str | None) -> bool:
        """Whether the key may call ``model`` (routed to ``group``): no list allows every model."""
        return not self.models or model in self.models or (group is not None and group in self.models)
