"""Handlers for `custom.session_thread_events.*` operations (see spec/openapi.yaml)."""

from gateway.planned import planned

list = planned("custom.session_thread_events.list")
stream = planned("custom.session_thread_events.stream")
