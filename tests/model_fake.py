"""One scripted model upstream for suites whose gateways run sessions (the session runtime calls a model as soon as a
``user.message`` arrives): every model id routes to this fake on loopback, so no test ever reaches a real host."""

from __future__ import annotations

import functools
from typing import Any

from bench.fakes import AnthropicFake, Behavior, Text


@functools.cache
def shared_model_fake() -> AnthropicFake:
    """Started on first use, stopped with the test process (its server thread is a daemon)."""
    return AnthropicFake(
        Behavior(content=[Text("ok from the fake model")]), name="model-fake", record=False, validate=False
    ).start()


def model_routing(url: str | None = None) -> dict[str, Any]:
    """``model_list`` + ``routing`` sending every model id to the fake at ``url`` (default: the shared fake)."""
    base = url or shared_model_fake().url
    return {
        "model_list": [
            {"model_name": "fake", "litellm_params": {"model": "anthropic/*", "api_base": base, "api_key": "k"}}
        ],
        "routing": {"default": "fake"},
    }
