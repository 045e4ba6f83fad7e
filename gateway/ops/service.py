"""The ops service: metrics, tracing, drain and the access line of one app (lifespan factory :func:`ops_service`).

It comes first among the services so that the native service and the session runtime find it in the state.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import orjson
import sqlalchemy as sa
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from gateway.errors import render_error
from gateway.ops import health
from gateway.ops.access import OPS_STATE, access_logger
from gateway.ops.config import OpsConfig, parse_ops
from gateway.ops.drain import Drain, register, unregister
from gateway.ops.hooks import UpstreamHooks
from gateway.ops.metrics import CONTENT_TYPE, Metrics
from gateway.ops.tracing import Tracing
from gateway.request_id import request_id_for
from gateway.settings import Settings

logger = logging.getLogger("gateway.ops")
METRICS_PATH, LIVE_PATH, READY_PATH = "/metrics", "/healthz", "/readyz"
GAUGE_SECONDS = 2.0
STATE = OPS_STATE


class Ops:
    def __init__(self, config: OpsConfig, settings: Settings, state: Mapping[str, Any]) -> None:
        self.config = config
        self.state = state  # the lifespan state, filled by the services after this one
        self.local_mode = settings.local_mode
        self.operation_prefix = f"{settings.handlers_package}."
        self.metrics = Metrics()
        self.tracing = Tracing(config) if config.otlp_endpoint else None
        self.drain = Drain(config.drain_grace_seconds)
        self.hooks = UpstreamHooks(self.metrics, self.tracing)
        self.endpoints = frozenset([LIVE_PATH, READY_PATH, *([METRICS_PATH] if config.metrics != "off" else [])])

    # --- the access line ----------------------------------------------------------------------------------------
    def log_access(self, line: dict[str, Any]) -> None:
        level = logging.WARNING if line["event"] == "auth_failed" else logging.INFO
        if not access_logger.isEnabledFor(level):
            return
        if self.config.log_format == "json":
            access_logger.log(level, line["event"], extra=line)
        else:
            access_logger.log(level, "%s", orjson.dumps(line).decode())

    # --- endpoints ----------------------------------------------------------------------------------------------
    async def endpoint(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"]
        if scope["method"] not in ("GET", "HEAD"):
            response: Response = render_error(
                405, "invalid_request_error", f"{path} answers GET only", request_id_for(scope), {"allow": "GET"}
            )
        elif path == LIVE_PATH:
            response = Response(b'{"status":"alive"}', media_type="application/json")
        elif path == READY_PATH:
            result = await self.readiness()
            if result["status"] == "ready":
                response = Response(orjson.dumps(result), media_type="application/json")
            else:
                failed = ", ".join(f"{k}: {v['detail']}" for k, v in result["checks"].items() if v["status"] != "ok")
                response = render_error(503, "overloaded_error", f"not ready ({failed})", request_id_for(scope))
        elif not self.metrics_allowed(scope):
            message = "/metrics needs a gateway key (x-api-key or Authorization: Bearer)"
            response = render_error(401, "authentication_error", message, request_id_for(scope))
        else:
            response = Response(self.metrics.exposition(await self.snapshot()), headers={"content-type": CONTENT_TYPE})
        await response(scope, receive, send)

    def metrics_allowed(self, scope: Scope) -> bool:
        if self.config.metrics == "open" or self.local_mode:
            return True
        headers = Headers(scope=scope)
        token = headers.get("x-api-key") or ""
        scheme, _sep, value = headers.get("authorization", "").partition(" ")
        if not token and scheme.lower() == "bearer":
            token = value.strip()
        index = (scope.get("state") or {}).get("key_index")
        entries = getattr(index, "entries", ())
        digest = hashlib.sha256(token.encode("utf-8")).digest()
        return bool(token) and any(hmac.compare_digest(digest, expected) for expected, _n, _w in entries)

    async def readiness(self) -> dict[str, Any]:
        return await health.readiness(self.state, self.drain.active)

    async def snapshot(self) -> dict[str, float]:
        """Gauges of the whole gateway, measured at scrape time."""
        self.update_gauges()
        engine = getattr(self.state.get("storage"), "engine", None)
        if engine is None:
            return {}
        from gateway.storage.store import utcnow
        from gateway.storage.tables import session_runs as runs

        query = sa.select(sa.func.count()).where(
            runs.c.wanted > runs.c.done, sa.or_(runs.c.owner.is_(None), runs.c.lease_until < utcnow())
        )
        try:
            async with asyncio.timeout(health.CHECK_TIMEOUT), engine.connect() as connection:
                waiting = (await connection.execute(query)).scalar_one()
        except Exception:
            logger.warning("metrics: the runtime queue depth could not be read", exc_info=True)
            return {}
        return {"gateway_runtime_queue_depth": float(waiting)}

    def update_gauges(self) -> None:
        runtime = self.state.get("runtime")
        tasks = getattr(runtime, "tasks", {})
        self.metrics.sessions_running.set(sum(1 for t in tasks.values() if not t.done()))
        self.metrics.draining.set(1 if self.drain.active else 0)

    async def gauges(self) -> None:
        while True:
            self.update_gauges()
            await asyncio.sleep(GAUGE_SECONDS)


@asynccontextmanager
async def ops_service(settings: Settings, state: Mapping[str, Any]) -> AsyncIterator[Mapping[str, Any]]:
    """Lifespan factory: metrics, tracing and the drain state of this app."""
    ops = Ops(parse_ops(settings.raw), settings, state)
    register(ops.drain)
    ticker = asyncio.create_task(ops.gauges(), name="ops gauges")
    try:
        yield {STATE: ops}
    finally:
        ticker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticker
        unregister(ops.drain)
        if ops.tracing is not None:
            await asyncio.to_thread(ops.tracing.shutdown)
