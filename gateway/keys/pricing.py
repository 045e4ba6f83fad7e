"""What a model call cost: prices set on the deployment, else LiteLLM's model price map.

Per deployment, LiteLLM's ``litellm_params`` keys ``input_cost_per_token`` and ``output_cost_per_token`` (and
optionally ``cache_creation_input_token_cost`` / ``cache_read_input_token_cost``; cache writes default to 1.25 x the
input price, cache reads to 0.1 x, Anthropic's ratios). Otherwise the price map shipped with the installed
``litellm`` package (``model_prices_and_context_window_backup.json``, read once, without importing litellm) is looked
up by the upstream model id, then the client's model id (with and without a ``provider/`` prefix). A model found
nowhere costs 0 (its tokens are still recorded). A slim install (no ``[litellm]`` extra) has no price map: calls are
priced from the deployments' prices only, and a warning at start-up says so.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.extras import LITELLM_INSTALL, litellm_dir

logger = logging.getLogger(__name__)
PRICE_FILE = "model_prices_and_context_window_backup.json"
CACHE_WRITE_RATIO = 1.25
CACHE_READ_RATIO = 0.1


@dataclass(frozen=True)
class Usage:
    """Tokens of one model call, by kind (Anthropic's ``usage`` fields)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0

    @property
    def total(self) -> int:
        return self.input_tokens + self.output_tokens + self.cache_creation_input_tokens + self.cache_read_input_tokens

    @classmethod
    def of(cls, usage: Mapping[str, Any]) -> Usage:
        def n(name: str) -> int:
            value = usage.get(name)
            return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0

        return cls(
            n("input_tokens"), n("output_tokens"), n("cache_creation_input_tokens"), n("cache_read_input_tokens")
        )


@dataclass(frozen=True)
class Price:
    input: float
    output: float
    cache_write: float
    cache_read: float

    def cost(self, usage: Usage) -> float:
        return (
            usage.input_tokens * self.input
            + usage.output_tokens * self.output
            + usage.cache_creation_input_tokens * self.cache_write
            + usage.cache_read_input_tokens * self.cache_read
        )


FREE = Price(0.0, 0.0, 0.0, 0.0)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if number >= 0 else None


def price_of(entry: Mapping[str, Any]) -> Price | None:
    """The price in a LiteLLM price-map entry or ``litellm_params`` mapping, None without both token prices."""
    given = _number(entry.get("input_cost_per_token"))
    taken = _number(entry.get("output_cost_per_token"))
    if given is None or taken is None:
        return None
    write = _number(entry.get("cache_creation_input_token_cost"))
    read = _number(entry.get("cache_read_input_token_cost"))
    return Price(
        given,
        taken,
        write if write is not None else given * CACHE_WRITE_RATIO,
        read if read is not None else given * CACHE_READ_RATIO,
    )


@functools.cache
def price_map() -> Mapping[str, Any]:
    """LiteLLM's model price map ({} when litellm is not installed)."""
    package = litellm_dir()
    if package is None:
        logger.warning(
            "LiteLLM's model price map ships with litellm, which this install lacks: calls are priced only from "
            "model_list prices (input_cost_per_token, output_cost_per_token), others cost 0; %s",
            LITELLM_INSTALL,
        )
        return {}
    path = package / PRICE_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        logger.warning("LiteLLM's model price map could not be read from %s; calls are priced 0", path)
        return {}
    return data if isinstance(data, dict) else {}


class Pricing:
    """Prices per (deployment params, model), memoised."""

    def __init__(self, prices: Mapping[str, Any] | None = None) -> None:
        self.prices = price_map() if prices is None else prices
        self._memo: dict[tuple[int, str], Price] = {}

    def price(self, model: str, params: Mapping[str, Any] | None = None, upstream_model: str | None = None) -> Price:
        memo_key = (id(params), f"{upstream_model}|{model}")
        found = self._memo.get(memo_key)
        if found is not None:
            return found
        price = price_of(params) if params else None
        if price is None:
            for name in (upstream_model, model):
                if not name:
                    continue
                for candidate in (name, name.split("/", 1)[-1]):
                    entry = self.prices.get(candidate)
                    if isinstance(entry, Mapping):
                        price = price_of(entry)
                        if price is not None:
                            break
                if price is not None:
                    break
        found = price or FREE
        self._memo[memo_key] = found
        return found
