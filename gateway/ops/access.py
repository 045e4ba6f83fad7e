"""The ops middleware: one access line, metrics and a span per HTTP request; ``/metrics``, ``/healthz``, ``/readyz``.

It sits just inside :class:`gateway.middleware.RequestIdMiddleware` (so every line and span has the request id) and
outside everything else, so it sees every answer, 413s and 401s included. It does nothing when the app's lifespan
did not start the ops service.

- The access line (logger ``gateway.access``, INFO; WARNING for a failed authentication, with its reason and the
  name of the credential header presented, never its value): ``request_id``, ``method``, ``path``, ``operation``,
  ``key_name``, ``workspace``, ``status``, ``duration_ms`` (to the last byte: a stream's whole length),
  ``ttfb_ms``, ``stream``; for routed native requests also ``route_group``, ``deployment``, ``model``, ``tier``,
  ``effort``, ``attempts``, ``failovers`` and ``tokens`` (read from the answer's ``usage``, streamed or not); for
  errors ``error``, the envelope's message.
- Probes and scrapes (``/metrics``, ``/healthz``, ``/readyz``) are answered here and neither logged nor counted.
- During a drain, an SSE response cut short (grace period over, second SIGTERM, or a subscription stream when the
  server stops accepting) ends with an ``error`` event.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import orjson
from opentelemetry import trace
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.ops import facts as request_facts
from gateway.proxy.accounting import CONTEXT_EXTENSION, ROUTING_EXTENSION
from gateway.request_id import request_id_for
from gateway.streaming import SUBSCRIPTION_EXTENSION, error_event

if TYPE_CHECKING:
    from gateway.ops.service import Ops

access_logger = logging.getLogger("gateway.access")
OPS_STATE = "ops"
MAX_ERROR_BODY = 16 * 1024
MAX_USAGE_BODY = 4 * 1024 * 1024
DRAIN_EVENT = error_event("the gateway is shutting down; the stream was ended", "overloaded_error")


class OpsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        ops = (scope.get("state") or {}).get(OPS_STATE) if scope["type"] == "http" else None
        if ops is None:
            await self.app(scope, receive, send)
            return
        if scope["path"] in ops.endpoints:
            await ops.endpoint(scope, receive, send)
            return
        exchange = _Exchange(ops, scope)
        ops.metrics.in_flight.inc()
        token = exchange.open()
        try:
            if ops.tracing is None:
                await exchange.run(self.app, receive, send)
            else:
                headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
                name = "gateway.request"  # the path is the client's: an attribute would be unbounded, a name more so
                attributes = {"http.request.method": scope["method"], "gateway.request_id": exchange.request_id}
                with ops.tracing.span(
                    name, attributes, kind=trace.SpanKind.SERVER, context=ops.tracing.incoming(headers)
                ) as span:
                    await exchange.run(self.app, receive, send)
                    exchange.annotate(span)
        finally:
            request_facts.end(token)
            ops.metrics.in_flight.dec()
            exchange.record()


class _Exchange:
    """One request's observation: status, timings, the error or usage in the answer."""

    def __init__(self, ops: Ops, scope: Scope) -> None:
        self.ops, self.scope = ops, scope
        self.request_id = request_id_for(scope)
        self.started = time.perf_counter()
        self.first_byte: float | None = None
        self.status = 0
        self.sse = False
        self.json = False
        self.finished = False
        self.body = bytearray()
        self.facts = request_facts.RequestFacts()

    def open(self) -> object:
        self.facts, token = request_facts.begin()
        self.scope.setdefault("extensions", {})  # connexion's routing result lands in this shared dict
        return token

    async def run(self, app: ASGIApp, receive: Receive, send: Send) -> None:
        drain = self.ops.drain
        task = asyncio.current_task()

        async def observed(message: Message) -> None:
            kind = message["type"]
            if kind == "http.response.start":
                self.status = int(message["status"])
                content_type = Headers(raw=message.get("headers", [])).get("content-type", "")
                self.sse = content_type.startswith("text/event-stream")
                self.json = content_type.startswith("application/json")
                if self.sse and task is not None:
                    self.ops.metrics.open_streams.inc()
                    drain.streams.add(task)
                    if (self.scope.get("extensions") or {}).get(SUBSCRIPTION_EXTENSION):
                        drain.subscribe(task)
            elif kind == "http.response.body":
                chunk = message.get("body", b"")
                if chunk and self.first_byte is None:
                    self.first_byte = time.perf_counter()
                if chunk:
                    self.observe(chunk)
                if not message.get("more_body", False):
                    self.finished = True
            await send(message)

        try:
            await app(self.scope, receive, observed)
        except asyncio.CancelledError:
            if not (self.sse and drain.active and not self.finished):
                raise
            # the drain ended this stream (grace period over or second SIGTERM): say so instead of truncating it
            if task is not None:
                task.uncancel()
            await send({"type": "http.response.body", "body": DRAIN_EVENT, "more_body": False})
            self.finished = True
            self.status = self.status or 200
        finally:
            if self.sse and task is not None:
                drain.streams.discard(task)
                drain.subscriptions.discard(task)
                self.ops.metrics.open_streams.dec()

    def observe(self, chunk: bytes) -> None:
        """Keep what the access line needs from the body: usage of a routed answer, the message of an error."""
        if self.sse:
            if self.facts.route_group and b'"usage"' in chunk:
                for event in chunk.split(b"\n\n"):
                    if b'"usage"' in event:
                        _stream_usage(event, self.facts)
            return
        routed_json = self.json and self.facts.route_group and self.status == 200
        limit = MAX_USAGE_BODY if routed_json else MAX_ERROR_BODY if self.status >= 400 else 0
        if len(self.body) + len(chunk) <= limit:
            self.body += chunk

    def annotate(self, span: trace.Span) -> None:
        span.set_attribute("http.response.status_code", self.status)
        span.set_attribute("gateway.operation", self.operation())
        if self.facts.route_group:
            span.set_attribute("gateway.route_group", self.facts.route_group)
            span.set_attribute("gateway.deployment", self.facts.deployment)
        if self.status >= 500:
            span.set_status(trace.StatusCode.ERROR)

    def operation(self) -> str:
        routing = (self.scope.get("extensions") or {}).get(ROUTING_EXTENSION) or {}
        operation_id = routing.get("operation_id")
        if not operation_id:
            return "unmatched"
        return str(operation_id).removeprefix(self.ops.operation_prefix)

    def record(self) -> None:
        now = time.perf_counter()
        facts = self.facts
        operation = self.operation()
        status = self.status or 500  # the app ended without answering: the server answers 500
        metrics = self.ops.metrics
        group, deployment = facts.route_group, facts.deployment
        metrics.requests.labels(operation, group, deployment, str(status)).inc()
        metrics.duration.labels(operation, group).observe(now - self.started)
        if self.first_byte is not None:
            metrics.ttfb.labels(operation, group).observe(self.first_byte - self.started)
        if self.body and self.json and status == 200 and group:
            _body_usage(bytes(self.body), facts)
        for kind, count in facts.tokens.items():
            if count:
                metrics.tokens.labels(group, deployment, kind).inc(count)
        failovers = len(set(facts.attempts)) - 1 if facts.attempts else 0
        if failovers > 0 and status < 400:
            metrics.failovers.labels(group).inc()
        self.ops.log_access(self._line(operation, status, now, failovers))

    def _line(self, operation: str, status: int, now: float, failovers: int) -> dict[str, Any]:
        identity = _identity(self.scope)
        line: dict[str, Any] = {
            "event": "request",
            "request_id": self.request_id,
            "method": self.scope["method"],
            "path": self.scope["path"],
            "operation": operation,
            "key_name": identity.get("sub", ""),
            "workspace": identity.get("workspace", ""),
            "status": status,
            "duration_ms": round((now - self.started) * 1000, 2),
            "ttfb_ms": None if self.first_byte is None else round((self.first_byte - self.started) * 1000, 2),
            "stream": self.sse,
        }
        facts = self.facts
        if facts.route_group:
            line.update(
                route_group=facts.route_group,
                deployment=facts.deployment,
                model=facts.model,
                tier=facts.tier,
                effort=facts.effort,
                attempts=facts.attempts,
                failovers=failovers,
                tokens=dict(facts.tokens),
            )
        if status >= 400:
            line["error"] = _error_message(bytes(self.body)) if not self.sse else None
        if status == 401:
            line["event"] = "auth_failed"
            line["credential"] = _presented(self.scope)
        return line


def _identity(scope: Scope) -> Mapping[str, Any]:
    context = (scope.get("extensions") or {}).get(CONTEXT_EXTENSION) or {}
    info = context.get("token_info") if isinstance(context, dict) else None
    return info if isinstance(info, dict) else {}


def _presented(scope: Scope) -> str:
    """Which credential header the request carried (never its value)."""
    headers = Headers(scope=scope)
    if headers.get("x-api-key"):
        return "x-api-key"
    authorization = headers.get("authorization", "")
    if authorization:
        return "authorization-" + authorization.split(" ", 1)[0].lower()[:16]
    return "none"


def _error_message(body: bytes) -> str | None:
    try:
        document = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        return None
    error = document.get("error") if isinstance(document, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    return message[:500] if isinstance(message, str) else None


def _body_usage(body: bytes, facts: request_facts.RequestFacts) -> None:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return
    if isinstance(document, dict):
        facts.usage(document.get("usage"))


def _stream_usage(event: bytes, facts: request_facts.RequestFacts) -> None:
    for line in event.split(b"\n"):
        if not line.startswith(b"data:"):
            continue
        try:
            data = orjson.loads(line[5:])
        except orjson.JSONDecodeError:
            return
        if not isinstance(data, dict):
            return
        message = data.get("message")
        facts.usage(message.get("usage") if isinstance(message, dict) else data.get("usage"))
