"""OpenTelemetry traces, exported over OTLP/HTTP (protobuf) when ``ops.otlp_endpoint`` is set; off otherwise.

Spans: one per HTTP request (``SERVER``; it continues a W3C ``traceparent`` the client sent), one for the routing
decision of a native request and one per upstream attempt (``CLIENT``), children of the request's span. Nothing is
propagated to upstreams: the issue asks for spans, and an upstream provider has no use for the gateway's trace ids.
Each app has its own tracer provider (not the process-global one), flushed and shut down with the app.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from gateway import __version__
from gateway.ops.config import OpsConfig

EXPORT_DELAY_MS = 1000


class Tracing:
    """The tracer of one app and the provider that exports its spans."""

    def __init__(self, config: OpsConfig) -> None:
        assert config.otlp_endpoint is not None
        resource = Resource.create({"service.name": config.service_name, "service.version": __version__})
        self.provider = TracerProvider(resource=resource)
        exporter = OTLPSpanExporter(endpoint=config.otlp_endpoint, headers=dict(config.otlp_headers), timeout=5)
        self.provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=EXPORT_DELAY_MS))
        self.tracer = self.provider.get_tracer("gateway")

    def incoming(self, headers: Mapping[str, str]) -> Context:
        """The context a client's ``traceparent`` header names (an empty one without it or when malformed)."""
        return propagate.extract(headers)

    @contextmanager
    def span(
        self,
        name: str,
        attributes: Mapping[str, Any],
        *,
        kind: trace.SpanKind = trace.SpanKind.INTERNAL,
        context: Context | None = None,
    ) -> Iterator[trace.Span]:
        with self.tracer.start_as_current_span(name, context=context, kind=kind, attributes=dict(attributes)) as s:
            yield s

    def shutdown(self) -> None:
        self.provider.shutdown()  # exports what is still queued
