"""Handlers for `custom.code_sessions.*` operations (see spec/openapi.yaml)."""

from gateway.planned import planned

list = planned("custom.code_sessions.list")
get = planned("custom.code_sessions.get")
list_events = planned("custom.code_sessions.list_events")
stream_events = planned("custom.code_sessions.stream_events")
create = planned("custom.code_sessions.create")
archive = planned("custom.code_sessions.archive")
bridge = planned("custom.code_sessions.bridge")
send_events = planned("custom.code_sessions.send_events")
rename = planned("custom.code_sessions.rename")
