"""Translated backends: any litellm provider, through litellm's Anthropic-format entry point.

The only module that imports litellm, lazily (the import costs ~2.3 s and ~200 MB): nothing here runs unless a
``model_list`` entry names a provider other than anthropic/deepseek/mimo/mimo_auto. Facts this relies on
(../shared/reference/tech-spike.md §(e)):

- ``LITELLM_LOCAL_MODEL_COST_MAP`` must be set before the import, or litellm fetches its cost map from GitHub;
- ``use_chat_completions_url_for_anthropic_messages`` (process-global) sends ``openai/*`` to chat completions
  rather than the Responses API;
- translated thinking blocks carry ``signature: null``, which the anthropic SDK rejects: rewritten to ``""``.
  (An empty signature also marks the block as not Anthropic's: the Anthropic hygiene drops it on the next turn.)
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Iterable
from typing import Any

from gateway.routing.config import Deployment
from gateway.upstream.wire import RETRYABLE_STATUSES, RetryableFailure

_LITELLM: Any = None
PASSED_PARAMS = ("api_base", "api_version", "organization", "extra_headers", "custom_llm_provider")


class TranslatedError(Exception):
    """A non-retryable error status from a translated backend, to be returned to the client as it is."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def load(deployments: Iterable[Deployment] = ()) -> Any:
    """Import and configure litellm once (at start-up, when a translated backend is configured).

    Each translated deployment is registered with zero cost (litellm otherwise logs a traceback per streamed call
    for unmapped models) and ``supports_reasoning: False`` for ``openai/*``: with reasoning on, litellm sends
    ``openai/*`` requests that carry ``thinking`` to the Responses API, which OpenAI-compatible servers lack."""
    global _LITELLM
    if _LITELLM is None:
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        import litellm

        litellm.suppress_debug_info = True
        litellm.use_chat_completions_url_for_anthropic_messages = True
        for name in ("LiteLLM", "LiteLLM Proxy", "LiteLLM Router"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
        _LITELLM = litellm
    for deployment in deployments:
        provider = deployment.litellm_model.split("/", 1)[0]
        info: dict[str, Any] = {"litellm_provider": provider, "mode": "chat"}
        info.update(input_cost_per_token=0, output_cost_per_token=0)
        if provider == "openai":
            info["supports_reasoning"] = False
        _LITELLM.register_model({deployment.litellm_model: info})
    return _LITELLM


def fix_event(data: dict[str, Any]) -> bool:
    """Stream event fix-up: ``signature: null`` on a thinking block becomes ``""``."""
    block = data.get("content_block")
    if isinstance(block, dict) and block.get("type") == "thinking" and block.get("signature") is None:
        block["signature"] = ""
        return True
    return False


def fix_message(message: dict[str, Any]) -> dict[str, Any]:
    for block in message.get("content") or []:
        if isinstance(block, dict) and block.get("type") == "thinking" and block.get("signature") is None:
            block["signature"] = ""
    return message


def _kwargs(deployment: Deployment, body: dict[str, Any]) -> dict[str, Any]:
    kwargs = {k: v for k, v in body.items() if k not in ("model", "stream")}
    kwargs.update({k: v for k, v in deployment.litellm_params.items() if k in PASSED_PARAMS})
    kwargs["model"] = deployment.litellm_model
    if deployment.api_key:
        kwargs["api_key"] = deployment.api_key
    kwargs["timeout"] = deployment.timeout
    # parameters the provider lacks (e.g. reasoning_effort for a non-reasoning model) are dropped, not refused
    kwargs.setdefault("drop_params", deployment.litellm_params.get("drop_params", True))
    return kwargs


def _status_of(exc: Exception) -> int:
    status = getattr(exc, "status_code", None)
    return status if isinstance(status, int) else 502


async def create(deployment: Deployment, body: dict[str, Any], stream: bool) -> dict[str, Any] | AsyncIterator[bytes]:
    """A Message dict, or an async iterator of Anthropic SSE bytes when ``stream``."""
    litellm = load()
    try:
        result = await litellm.anthropic.messages.acreate(**_kwargs(deployment, body), stream=stream)
    except Exception as exc:  # litellm raises its own exception tree; converted here, at its one boundary
        status = _status_of(exc)
        if status in RETRYABLE_STATUSES or status >= 500:
            raise RetryableFailure(deployment, f"translated backend failed ({status})", status=status) from exc
        detail = str(getattr(exc, "message", "") or exc)[:500]
        raise TranslatedError(status, f"upstream {deployment.id} answered {status}: {detail}") from exc
    if stream:
        return result  # type: ignore[no-any-return]
    return fix_message(dict(result))
