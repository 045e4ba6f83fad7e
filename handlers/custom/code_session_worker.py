"""Handlers for `custom.code_session_worker.*` operations (see spec/openapi.yaml)."""

from gateway.planned import planned

get = planned("custom.code_session_worker.get")
stream_events = planned("custom.code_session_worker.stream_events")
list_internal_events = planned("custom.code_session_worker.list_internal_events")
send_events = planned("custom.code_session_worker.send_events")
report_delivery = planned("custom.code_session_worker.report_delivery")
heartbeat = planned("custom.code_session_worker.heartbeat")
send_internal_events = planned("custom.code_session_worker.send_internal_events")
register = planned("custom.code_session_worker.register")
update = planned("custom.code_session_worker.update")
