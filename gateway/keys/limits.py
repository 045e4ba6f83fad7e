"""Admission: the limit checks before a model call, and the headers that report the key's standing.

Over budget: ``429 billing_error`` with ``x-should-retry: false`` and ``retry-after`` at the budget window's reset
(what the Claude apps gateway answers, so that Claude Code stops instead of retrying). Over ``rpm_limit`` or
``tpm_limit``: ``429 rate_limit_error`` with ``retry-after`` at the next minute.

Headers on every answer to a key with limits:

* ``anthropic-ratelimit-unified-status`` (``allowed``, ``allowed_warning`` from 80 % of the budget, ``rejected``),
  ``-reset`` (epoch seconds), ``-representative-claim`` and the claim's ``-<5h|7d>-utilization`` (0..1), ``-reset``
  and ``-status``. The claim is ``five_hour`` for budget windows up to five hours, ``seven_day`` otherwise (and for
  lifetime budgets): the two windows Claude Code knows how to display.
* ``anthropic-ratelimit-requests-{limit,remaining,reset}`` and ``anthropic-ratelimit-tokens-{…}`` for rpm/tpm.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

from gateway.errors import GatewayError, RateLimited
from gateway.keys.model import VirtualKey, duration_seconds

WARNING_UTILIZATION = 0.8
FIVE_HOURS = 5 * 3600
UNIFIED = "anthropic-ratelimit-unified-"


class BudgetExceeded(GatewayError):
    status = 429
    error_type = "billing_error"


def claim_of(key: VirtualKey) -> tuple[str, str]:
    """(claim name, header abbreviation) the key's budget window is reported as."""
    if key.budget_duration is not None and duration_seconds(key.budget_duration) <= FIVE_HOURS:
        return "five_hour", "5h"
    return "seven_day", "7d"


def _iso_epoch(value: datetime) -> int:
    return int(value.replace(tzinfo=UTC).timestamp())


@dataclass(frozen=True)
class Standing:
    """A key's numbers at admission time."""

    key: VirtualKey
    now: float  # epoch seconds
    rpm: int
    tpm: int
    spend: float
    reset: datetime | None  # the budget window's end (None: lifetime budget or no budget)

    @property
    def utilization(self) -> float | None:
        if self.key.max_budget is None:
            return None
        if self.key.max_budget <= 0:
            return 1.0
        return min(1.0, self.spend / self.key.max_budget)

    @property
    def minute_reset(self) -> int:
        return int(self.now // 60) * 60 + 60

    def refusal(self) -> GatewayError | None:
        key = self.key
        if key.max_budget is not None and self.spend >= key.max_budget:
            headers = {"x-should-retry": "false", **self.headers(rejected=True)}
            if self.reset is not None:
                # rounded up: a client that waits exactly this long finds the new window (the reset has fractions)
                left = self.reset.replace(tzinfo=UTC).timestamp() - self.now
                headers["retry-after"] = str(max(1, math.ceil(left)))
            window = f"until {self.reset.isoformat(timespec='seconds')}Z" if self.reset else "for the key's lifetime"
            return BudgetExceeded(
                f"this key's budget of ${key.max_budget:g} is spent ({window})",
                headers=headers,
            )
        retry = {"retry-after": str(max(1, self.minute_reset - int(self.now)))}
        if key.rpm_limit is not None and self.rpm > key.rpm_limit:
            return RateLimited(
                f"this key's limit of {key.rpm_limit} requests per minute is reached",
                headers={**retry, **self.headers()},
            )
        if key.tpm_limit is not None and self.tpm >= key.tpm_limit:
            return RateLimited(
                f"this key's limit of {key.tpm_limit} tokens per minute is reached",
                headers={**retry, **self.headers()},
            )
        return None

    def headers(self, *, rejected: bool = False) -> dict[str, str]:
        key = self.key
        out: dict[str, str] = {}
        utilization = self.utilization
        if utilization is not None:
            claim, short = claim_of(key)
            status = (
                "rejected"
                if rejected or utilization >= 1.0
                else "allowed_warning"
                if utilization >= WARNING_UTILIZATION
                else "allowed"
            )
            reset = str(_iso_epoch(self.reset)) if self.reset is not None else None
            out[UNIFIED + "status"] = status
            out[UNIFIED + "representative-claim"] = claim
            out[UNIFIED + f"{short}-utilization"] = f"{utilization:.4f}"
            out[UNIFIED + f"{short}-status"] = status
            if reset is not None:
                out[UNIFIED + "reset"] = reset
                out[UNIFIED + f"{short}-reset"] = reset
        minute_reset = datetime.fromtimestamp(self.minute_reset, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        if key.rpm_limit is not None:
            out["anthropic-ratelimit-requests-limit"] = str(key.rpm_limit)
            out["anthropic-ratelimit-requests-remaining"] = str(max(0, key.rpm_limit - self.rpm))
            out["anthropic-ratelimit-requests-reset"] = minute_reset
        if key.tpm_limit is not None:
            out["anthropic-ratelimit-tokens-limit"] = str(key.tpm_limit)
            out["anthropic-ratelimit-tokens-remaining"] = str(max(0, key.tpm_limit - self.tpm))
            out["anthropic-ratelimit-tokens-reset"] = minute_reset
        return out
