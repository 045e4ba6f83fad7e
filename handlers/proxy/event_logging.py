"""Handlers for `proxy.event_logging.*` operations (see spec/openapi.yaml)."""

from gateway.planned import planned

batch = planned("proxy.event_logging.batch")
batch_v2 = planned("proxy.event_logging.batch_v2")
