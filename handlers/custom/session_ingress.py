"""Handlers for `custom.session_ingress.*` operations (see spec/openapi.yaml)."""

from gateway.planned import planned

list_teleport_events = planned("custom.session_ingress.list_teleport_events")
get_log = planned("custom.session_ingress.get_log")
websocket = planned("custom.session_ingress.websocket")
send_events = planned("custom.session_ingress.send_events")
append_log = planned("custom.session_ingress.append_log")
