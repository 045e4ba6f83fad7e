"""Tier and effort of a Messages request.

Tier comes from any Anthropic-style model id: dated or undated (``claude-sonnet-4-5-20250929``), future versions
(``claude-opus-5-5``), old order (``claude-3-5-haiku-latest``), aliases (``opus``), ``[1m]`` context suffixes and
gateway suffixes (``claude-haiku-5-5-gw``). Anything else has no tier and takes the default route.

Effort is ``output_config.effort`` when present. Otherwise it is derived from ``thinking``:

| thinking                                  | effort  |
|-------------------------------------------|---------|
| absent or ``{"type": "disabled"}``        | none    |
| ``{"type": "adaptive"}``                  | medium  |
| ``enabled``, budget_tokens < 4,096        | low     |
| ``enabled``, budget_tokens < 16,384       | medium  |
| ``enabled``, budget_tokens < 32,768       | high    |
| ``enabled``, budget_tokens < 65,536       | xhigh   |
| ``enabled``, budget_tokens ≥ 65,536       | max     |

(Claude Code sends ``budget_tokens: 31999`` for 4.x models → high.)
"""

from __future__ import annotations

import re
from typing import Any, Literal

Tier = Literal["opus", "sonnet", "haiku"]
TIERS: tuple[Tier, ...] = ("opus", "sonnet", "haiku")
EFFORTS = ("low", "medium", "high", "xhigh", "max")

_FAMILY = re.compile(r"(?:^|[-_/.:\s])(opus|sonnet|haiku)(?=$|[-_/.:\[\s\d])", re.IGNORECASE)
_BUDGETS = ((4096, "low"), (16384, "medium"), (32768, "high"), (65536, "xhigh"))


def tier_of(model: str) -> Tier | None:
    """The tier named by a model id, or None (unknown family: the default route)."""
    text = model.strip().lower()
    if text in TIERS:
        return text
    match = _FAMILY.search(text.split("[", 1)[0])
    if match and ("claude" in text or "anthropic" in text or text.startswith(match.group(1))):
        return match.group(1).lower()  # type: ignore[return-value]
    return None


def effort_of(body: dict[str, Any]) -> str | None:
    """``output_config.effort`` if valid, else derived from ``thinking`` (see the table in the module doc)."""
    config = body.get("output_config")
    if isinstance(config, dict) and config.get("effort") in EFFORTS:
        return str(config["effort"])
    thinking = body.get("thinking")
    if not isinstance(thinking, dict):
        return None
    kind = thinking.get("type")
    if kind == "adaptive":
        return "medium"
    if kind == "enabled":
        budget = thinking.get("budget_tokens")
        if not isinstance(budget, int):
            return "medium"
        for limit, effort in _BUDGETS:
            if budget < limit:
                return effort
        return "max"
    return None


def thinking_disabled(body: dict[str, Any]) -> bool:
    thinking = body.get("thinking")
    return isinstance(thinking, dict) and thinking.get("type") == "disabled"
