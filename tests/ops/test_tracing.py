"""OpenTelemetry spans exported over OTLP/HTTP to a real receiver: request, routing decision, upstream attempt."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx

from bench.fakes import AnthropicFake
from tests.ops.conftest import HEADERS, config, gateway, message
from tests.ops.otlp_receiver import Receiver

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


def attributes(span: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for a in span.attributes:
        kind = a.value.WhichOneof("value")
        out[a.key] = getattr(a.value, kind)
    return out


def test_spans_reach_the_otlp_receiver(upstream: AnthropicFake, tmp_path: Path) -> None:
    with Receiver() as receiver:
        doc = config(upstream.url, ops={"otlp_endpoint": receiver.endpoint, "service_name": "gw-under-test"})
        with gateway(doc, tmp_path) as gw:
            traceparent = f"00-{TRACE_ID}-{PARENT_ID}-01"
            answer = httpx.post(
                f"{gw.url}/v1/messages", json=message(), headers={**HEADERS, "traceparent": traceparent}, timeout=30
            )
            assert answer.status_code == 200
            deadline = time.monotonic() + 15  # exported in batches every second
            while len(receiver.spans()) < 3 and time.monotonic() < deadline:
                time.sleep(0.2)
        spans = receiver.spans()
    by_name = {span.name: (resource, span) for resource, span in spans}
    assert {"gateway.request", "gateway.route", "gateway.upstream_attempt"} <= set(by_name), list(by_name)
    resource, request = by_name["gateway.request"]
    assert resource["service.name"] == "gw-under-test"
    assert request.trace_id.hex() == TRACE_ID and request.parent_span_id.hex() == PARENT_ID  # the client's trace
    assert request.kind == request.SPAN_KIND_SERVER
    request_attributes = attributes(request)
    assert request_attributes["gateway.request_id"] == answer.headers["request-id"]
    assert request_attributes["http.response.status_code"] == 200
    assert request_attributes["gateway.operation"] == "native.messages.create"
    assert request_attributes["gateway.route_group"] == "fake"
    for name in ("gateway.route", "gateway.upstream_attempt"):
        child = by_name[name][1]
        assert child.trace_id == request.trace_id and child.parent_span_id == request.span_id
    attempt = by_name["gateway.upstream_attempt"][1]
    assert attempt.kind == attempt.SPAN_KIND_CLIENT and attributes(attempt)["gateway.deployment"] == "fake/1"
    # the gateway injects no trace context of its own: the upstream gets the client's header as forwarded before
    # (header pass-through, gateway/upstream/wire.py), never the gateway's span ids
    sent = upstream.requests
    assert [r.headers.get("traceparent") for r in sent] == [traceparent]


def test_no_export_without_an_endpoint(upstream: AnthropicFake, tmp_path: Path) -> None:
    """Traces are off by default: the default config starts no exporter (its endpoint would be 4318)."""
    with Receiver() as receiver, gateway(config(upstream.url), tmp_path) as gw:
        assert httpx.post(f"{gw.url}/v1/messages", json=message(), headers=HEADERS, timeout=30).status_code == 200
        time.sleep(1.5)
        assert receiver.spans() == []
        assert all("traceparent" not in r.headers for r in upstream.requests)
        assert "opentelemetry" not in gw.log.read_text().lower()
