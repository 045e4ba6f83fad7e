"""Translated backends: any litellm provider, through litellm's Anthropic-format entry point.

The only module that imports litellm, lazily (the import costs ~2.3 s and ~200 MB): nothing here runs unless a
``model_list`` entry names a provider other than anthropic/deepseek/mimo/mimo_auto. litellm is the ``[litellm]``
extra: without it such a config is refused (:func:`gateway.extras.require_litellm`, a ConfigError naming the install
command) by ``check-config`` and at start-up. Facts this relies on
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

import orjson

from gateway.errors import error_type_for
from gateway.extras import require_litellm
from gateway.routing.config import Deployment
from gateway.upstream.wire import FailedAttempt, retry_after_seconds

_LITELLM: Any = None
PASSED_PARAMS = ("api_base", "api_version", "organization", "extra_headers", "custom_llm_provider")
_LITELLM_PREFIX = "litellm."


def load(deployments: Iterable[Deployment] = ()) -> Any:
    """Import and configure litellm once (at start-up, when a translated backend is configured).

    Each translated deployment is registered with zero cost (litellm otherwise logs a traceback per streamed call
    for unmapped models) and ``supports_reasoning: False`` for ``openai/*``: with reasoning on, litellm sends
    ``openai/*`` requests that carry ``thinking`` to the Responses API, which OpenAI-compatible servers lack."""
    global _LITELLM
    if _LITELLM is None:
        require_litellm("a translated backend (a model_list provider other than anthropic, deepseek, mimo, mimo_auto)")
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


def provider_names() -> frozenset[str]:
    """litellm's provider prefixes (``openai``, ``gemini``, ``bedrock``, …): what a translated deployment may name."""
    litellm = load()
    return frozenset(str(getattr(p, "value", p)) for p in litellm.provider_list)


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
    # no retries inside litellm or the provider SDK it drives: the gateway's router owns every retry and failover
    kwargs["num_retries"] = 0
    kwargs["max_retries"] = 0
    # parameters the provider lacks (e.g. reasoning_effort for a non-reasoning model) are dropped, not refused
    kwargs.setdefault("drop_params", deployment.litellm_params.get("drop_params", True))
    return kwargs


def _response_headers(exc: Exception) -> dict[str, str]:
    response = getattr(exc, "response", None)
    for source in (getattr(exc, "litellm_response_headers", None), getattr(response, "headers", None)):
        if source:
            try:
                return {str(k).lower(): str(v) for k, v in source.items()}
            except AttributeError:
                continue
    return {}


def failed_attempt(deployment: Deployment, exc: Exception) -> FailedAttempt:
    """litellm's exception as a :class:`FailedAttempt`: the provider's status, message and headers in an Anthropic
    error envelope; a litellm error without an HTTP status (connection failure, timeout) as a transport failure."""
    status = getattr(exc, "status_code", None)
    message = str(getattr(exc, "message", "") or exc)
    if message.startswith(_LITELLM_PREFIX):  # "litellm.RateLimitError: OpenAIException - <provider message>"
        message = message.split(": ", 1)[-1]
    name = type(exc).__name__
    if not isinstance(status, int) or name in ("APIConnectionError", "Timeout") or status < 400:
        timeout = name == "Timeout" or status == 408
        return FailedAttempt(deployment, f"translated backend failed ({name})", timeout=timeout)
    headers = _response_headers(exc)
    body = orjson.dumps({"type": "error", "error": {"type": error_type_for(status), "message": message[:2000]}})
    return FailedAttempt(
        deployment,
        f"upstream answered {status}",
        status=status,
        body=body,
        headers=headers,
        retry_after=retry_after_seconds(headers),
    )


async def create(deployment: Deployment, body: dict[str, Any], stream: bool) -> dict[str, Any] | AsyncIterator[bytes]:
    """A Message dict, or an async iterator of Anthropic SSE bytes when ``stream``."""
    litellm = load()
    try:
        result = await litellm.anthropic.messages.acreate(**_kwargs(deployment, body), stream=stream)
    except Exception as exc:  # litellm raises its own exception tree; converted here, at its one boundary
        raise failed_attempt(deployment, exc) from exc
    if stream:
        return result  # type: ignore[no-any-return]
    return fix_message(dict(result))
