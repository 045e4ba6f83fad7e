"""The gateway's Prometheus metrics (prometheus-client).

Labels are bounded: ``operation`` is a spec operationId (``unmatched`` for a path no operation has), ``route_group``
and ``deployment`` come from the routing config (empty when the request was not routed), ``status`` is the HTTP
status and ``kind`` one of a fixed list. No path, id, key or model id sent by a client becomes a label.

With several worker processes (``serve --workers N``) every process writes its values to files in
``PROMETHEUS_MULTIPROC_DIR`` (set by the supervisor before the workers start) and ``/metrics`` in any of them
answers the sum over all of them (prometheus-client's multiprocess mode; gauges are ``livesum``: the processes
still running).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
UPSTREAM_OUTCOMES = ("ok", "status", "connection", "timeout", "error")


def multiprocess_dir() -> str | None:
    """The multiprocess directory when this process is one of several workers, else None."""
    return os.environ.get(MULTIPROC_ENV) or None


class Metrics:
    """The metric families of one app (their own registry: several apps in one process do not mix)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        route = ["operation", "route_group"]
        self.requests = Counter(
            "gateway_requests", "HTTP requests answered", [*route, "deployment", "status"], registry=r
        )
        self.duration = Histogram(
            "gateway_request_duration_seconds",
            "Whole request, to the last byte of the response (a stream's full length)",
            route,
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.ttfb = Histogram(
            "gateway_time_to_first_byte_seconds",
            "Request start to the first byte of the response body",
            route,
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.tokens = Counter(
            "gateway_tokens", "Tokens reported by upstream answers", ["route_group", "deployment", "kind"], registry=r
        )
        self.cost = Counter(
            "gateway_cost_usd",
            "Spend recorded for model calls, in USD (deployment prices or LiteLLM's price map; gateway.keys)",
            ["deployment"],
            registry=r,
        )
        self.upstream_attempts = Counter(
            "gateway_upstream_attempts", "Upstream attempts by outcome", ["deployment", "outcome"], registry=r
        )
        self.upstream_latency = Histogram(
            "gateway_upstream_latency_seconds",
            "Upstream attempt start to its response headers",
            ["deployment"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.failovers = Counter(
            "gateway_failovers",
            "Requests answered by another deployment than the first tried",
            ["route_group"],
            registry=r,
        )
        self.cooldowns = Counter(
            "gateway_cooldowns", "Deployments put in cooldown after a failure", ["deployment"], registry=r
        )
        self.open_streams = Gauge(
            "gateway_open_streams", "SSE responses being sent", registry=r, multiprocess_mode="livesum"
        )
        self.in_flight = Gauge(
            "gateway_requests_in_flight", "HTTP requests being handled", registry=r, multiprocess_mode="livesum"
        )
        self.sessions_running = Gauge(
            "gateway_sessions_running",
            "Agent sessions this gateway is running",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.draining = Gauge(
            "gateway_draining", "1 while a process drains after SIGTERM", registry=r, multiprocess_mode="livemax"
        )

    def exposition(self, snapshot: Mapping[str, float]) -> bytes:
        """The text exposition: every family (summed over the workers in multiprocess mode) plus ``snapshot``,
        gauges measured at scrape time for the whole gateway (one value, not summed)."""
        registry = CollectorRegistry(auto_describe=False)
        directory = multiprocess_dir()
        if directory is not None:
            from prometheus_client import multiprocess

            multiprocess.MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
        else:
            registry.register(_Forward(self.registry))
        registry.register(_Snapshot(snapshot))
        return generate_latest(registry)


class _Forward(Collector):
    def __init__(self, source: CollectorRegistry) -> None:
        self.source = source

    def collect(self) -> Iterator[Metric]:
        yield from self.source.collect()


SNAPSHOT_HELP = {
    "gateway_runtime_queue_depth": "Sessions with work waiting for a runtime to take them (database, whole gateway)",
}


class _Snapshot(Collector):
    def __init__(self, values: Mapping[str, float]) -> None:
        self.values = values

    def collect(self) -> Iterator[Metric]:
        for name, value in self.values.items():
            family = GaugeMetricFamily(name, SNAPSHOT_HELP.get(name, name))
            family.add_metric([], value)
            yield family


def mark_process_dead(pid: int) -> None:
    """Tell the multiprocess files that worker ``pid`` is gone (its live gauges stop counting)."""
    directory = multiprocess_dir()
    if directory is not None:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]
