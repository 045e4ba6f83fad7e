"""Handlers for `proxy.event_logging.*`: forwarded, or kept in the local JSONL sink (category ``event_logging``)."""

from __future__ import annotations

from typing import Any

from gateway.proxy.service import dispatch


async def batch() -> Any:
    """POST /api/event_logging/batch"""
    return await dispatch("proxy.event_logging.batch", lambda local, r: local.keep_events(r))


async def batch_v2() -> Any:
    """POST /api/event_logging/v2/batch"""
    return await dispatch("proxy.event_logging.batch_v2", lambda local, r: local.keep_events(r))
