"""Readiness checks: the database, Redis when configured, and the drain state. Each check has a deadline."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

CHECK_TIMEOUT = 2.0
Check = dict[str, Any]  # {"status": "ok" | "fail", "detail": str | None}


async def database(engine: Any) -> Check:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            async with engine.connect() as connection:
                await connection.execute(sa.text("SELECT 1"))
    except Exception as exc:
        return {"status": "fail", "detail": f"{type(exc).__name__}: cannot reach the database"}
    return {"status": "ok", "detail": None}


async def redis(client: Any) -> Check:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            await client.ping()
    except Exception as exc:
        return {"status": "fail", "detail": f"{type(exc).__name__}: cannot reach Redis"}
    return {"status": "ok", "detail": None}


async def readiness(state: Mapping[str, Any], draining: bool) -> dict[str, Any]:
    """``{"status": "ready" | "not_ready", "checks": {name: check}}`` for the app whose lifespan state is ``state``:
    ``database`` (when storage runs), ``redis`` (when routing configured one), ``drain``."""
    checks: dict[str, Check] = {}
    storage = state.get("storage")
    engine = getattr(storage, "engine", None)
    native = state.get("native")
    client = getattr(getattr(native, "router", None), "redis", None)
    names, probes = [], []
    if engine is not None:
        names.append("database")
        probes.append(database(engine))
    if client is not None:
        names.append("redis")
        probes.append(redis(client))
    for name, result in zip(names, await asyncio.gather(*probes), strict=True):
        checks[name] = result
    checks["drain"] = (
        {"status": "fail", "detail": "shutting down: draining open requests"}
        if draining
        else {"status": "ok", "detail": None}
    )
    ready = all(c["status"] == "ok" for c in checks.values())
    return {"status": "ready" if ready else "not_ready", "checks": checks}
