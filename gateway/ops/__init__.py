"""Operating the gateway: Prometheus metrics, JSON access lines, OpenTelemetry traces, probes, graceful drain and
several worker processes on one port.

- :mod:`gateway.ops.config` - the optional top-level ``ops:`` section of the config file;
- :mod:`gateway.ops.metrics` - the metric families (prometheus-client; multiprocess mode with several workers);
- :mod:`gateway.ops.access` - the outermost-but-one ASGI middleware: one access line, metrics and a span per
  request, and the ``/metrics``, ``/healthz`` and ``/readyz`` endpoints;
- :mod:`gateway.ops.facts` - what a request's handler tells the access line (route, deployment, attempts, tokens);
- :mod:`gateway.ops.logformat` - JSON (python-json-logger) or text log lines;
- :mod:`gateway.ops.tracing` - OTLP/HTTP span export when configured;
- :mod:`gateway.ops.drain` - SIGTERM handling: readiness 503, no new work, streams finish or end with an SSE error;
- :mod:`gateway.ops.health` - the dependency checks behind readiness;
- :mod:`gateway.ops.workers` - ``serve --workers N``: a supervisor and N uvicorn processes on one socket;
- :mod:`gateway.ops.service` - the lifespan factory that owns all of the above for one app.
"""
