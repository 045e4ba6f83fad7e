"""Per-backend request hygiene for Anthropic-wire backends (../shared/reference/peers.md §3 and §4).

``prepare`` returns the body to send, or None when the client's body can go upstream byte for byte.

- anthropic: thinking blocks without a signature (or with a foreign one, see ``FOREIGN_SIGNATURE``) are dropped,
  because Anthropic rejects them; everything else, ``cache_control`` included, is untouched.
- deepseek: effort clamped to low/high/max (medium, xhigh → high); effort dropped when thinking is disabled;
  ``context_management``, ``container``, ``mcp_servers`` dropped; ``redacted_thinking`` dropped (it only decrypts at
  Anthropic); thinking blocks kept (DeepSeek needs the prior reasoning on tool turns); Claude Code's per-request
  billing line removed from ``system`` so DeepSeek's prefix cache can hit.
- mimo: as deepseek, but MiMo has no graded effort: ``output_config`` is dropped and thinking is on/off.
- mimo_auto: as mimo, with the model and thinking switch chosen from the effort table.

Responses of non-Anthropic backends get ``FOREIGN_SIGNATURE`` in front of their thinking signatures
(:func:`stamp_foreign_event`), so a session that moves between backends never sends Anthropic a signature it did
not issue (peers.md §4, pain point 1b); the prefix is removed again when the block goes back to such a backend.
"""

from __future__ import annotations

import copy
from typing import Any

from gateway.routing.config import Deployment

BILLING_PREFIX = "x-anthropic-billing-header:"
FOREIGN_SIGNATURE = "gw-foreign:"  # prefix the gateway may put on signatures of non-Anthropic thinking blocks
DEEPSEEK_EFFORT = {"low": "low", "medium": "high", "high": "high", "xhigh": "high", "max": "max"}
DROP_FOR_COMPATIBLE = ("context_management", "container", "mcp_servers")


def _is_unsigned_or_foreign(block: Any) -> bool:
    if not isinstance(block, dict) or block.get("type") != "thinking":
        return False
    signature = block.get("signature")
    return not isinstance(signature, str) or not signature or signature.startswith(FOREIGN_SIGNATURE)


def _filter_content(body: dict[str, Any], drop: Any) -> bool:
    changed = False
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):
            kept = [block for block in content if not drop(block)]
            if len(kept) != len(content):
                message["content"] = kept or [{"type": "text", "text": ""}]
                changed = True
    return changed


def _strip_billing(body: dict[str, Any]) -> bool:
    system = body.get("system")
    if isinstance(system, str) and system.startswith(BILLING_PREFIX):
        body["system"] = system.split("\n", 1)[1] if "\n" in system else ""
        return True
    if isinstance(system, list):
        kept = [b for b in system if not (isinstance(b, dict) and str(b.get("text", "")).startswith(BILLING_PREFIX))]
        if len(kept) != len(system):
            body["system"] = kept
            return True
    return False


def _needs_anthropic_changes(body: dict[str, Any], deployment: Deployment) -> bool:
    if deployment.model != "*" and body.get("model") != deployment.model:
        return True
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list) and any(_is_unsigned_or_foreign(b) for b in content):
            return True
    return False


def prepare(body: dict[str, Any], deployment: Deployment, effort: str | None) -> dict[str, Any] | None:
    """The body for ``deployment``, or None if the original bytes can be forwarded unchanged."""
    if deployment.kind == "anthropic":
        if not _needs_anthropic_changes(body, deployment):
            return None
        out = copy.deepcopy(body)
        if deployment.model != "*":
            out["model"] = deployment.model
        _filter_content(out, _is_unsigned_or_foreign)
        return out
    out = copy.deepcopy(body)
    out["model"] = body.get("model") if deployment.model == "*" else deployment.model
    for key in DROP_FOR_COMPATIBLE:
        out.pop(key, None)
    _strip_billing(out)
    _system_messages_as_user(out)
    _unstamp(out)
    _filter_content(out, lambda b: isinstance(b, dict) and b.get("type") == "redacted_thinking")
    thinking = out.get("thinking")
    disabled = isinstance(thinking, dict) and thinking.get("type") == "disabled"
    config = out.get("output_config")
    if deployment.kind == "deepseek":
        if isinstance(config, dict):
            config = {k: v for k, v in config.items() if k == "effort"}
            if disabled or "effort" not in config:
                config.pop("effort", None)
            else:
                config["effort"] = DEEPSEEK_EFFORT.get(str(config["effort"]), "high")
            if config:
                out["output_config"] = config
            else:
                out.pop("output_config", None)
        return out
    out.pop("output_config", None)
    if deployment.kind == "mimo_auto":
        model, thinking_on = deployment.mimo_auto.get(effort or "none", deployment.mimo_auto["none"])
        out["model"] = model
        out["thinking"] = {"type": "enabled", "budget_tokens": 8192} if thinking_on else {"type": "disabled"}
    elif isinstance(thinking, dict) and thinking.get("type") == "adaptive":
        out["thinking"] = {"type": "enabled", "budget_tokens": 8192}  # MiMo knows enabled/disabled only
    return out


def stamp_foreign_event(data: dict[str, Any]) -> bool:
    """Stream fix for non-Anthropic backends: their thinking signatures get ``FOREIGN_SIGNATURE`` in front, so that
    if the conversation later moves to Anthropic the block is recognised and dropped instead of rejected."""
    block = data.get("content_block")
    if isinstance(block, dict) and block.get("type") == "thinking":
        block["signature"] = FOREIGN_SIGNATURE + str(block.get("signature") or "")
        return True
    delta = data.get("delta")
    if isinstance(delta, dict) and delta.get("type") == "signature_delta":
        delta["signature"] = FOREIGN_SIGNATURE + str(delta.get("signature") or "")
        return True
    return False


def stamp_foreign_message(message: Any) -> bool:
    """Non-streaming twin of :func:`stamp_foreign_event`."""
    changed = False
    for block in (message.get("content") if isinstance(message, dict) else None) or []:
        if isinstance(block, dict) and block.get("type") == "thinking":
            block["signature"] = FOREIGN_SIGNATURE + str(block.get("signature") or "")
            changed = True
    return changed


def _unstamp(body: dict[str, Any]) -> None:
    """Back on a non-Anthropic backend, its own blocks get their original signatures again."""
    for message in body.get("messages") or []:
        for block in (message.get("content") if isinstance(message, dict) else None) or []:
            if isinstance(block, dict) and str(block.get("signature", "")).startswith(FOREIGN_SIGNATURE):
                block["signature"] = block["signature"][len(FOREIGN_SIGNATURE) :]


def _system_messages_as_user(body: dict[str, Any]) -> None:
    """Claude Code 2.1.332 puts ``role: system`` turns (with a per-turn ``output_config``) in ``messages``; only
    Anthropic knows them (beta ``per-turn-control-2026-07-01``). Elsewhere they become user turns, effort removed."""
    for message in body.get("messages") or []:
        if isinstance(message, dict) and message.get("role") == "system":
            message["role"] = "user"
            message.pop("output_config", None)


def prepare_translated(body: dict[str, Any]) -> dict[str, Any]:
    """The body for litellm: Anthropic-only fields and turns removed (litellm translates the rest)."""
    out = copy.deepcopy(body)
    for key in DROP_FOR_COMPATIBLE:
        out.pop(key, None)
    _strip_billing(out)
    _system_messages_as_user(out)
    _filter_content(out, lambda b: isinstance(b, dict) and b.get("type") == "redacted_thinking")
    return out


def betas_for(deployment: Deployment, betas: str | None) -> str | None:
    """The ``anthropic-beta`` header to forward: all of it to Anthropic, none to the compatible endpoints."""
    return betas if deployment.kind == "anthropic" else None
