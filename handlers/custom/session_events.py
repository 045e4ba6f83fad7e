"""Handlers for `custom.session_events.*` operations (see spec/openapi.yaml)."""

from gateway.planned import planned

list = planned("custom.session_events.list")
stream = planned("custom.session_events.stream")
send = planned("custom.session_events.send")
