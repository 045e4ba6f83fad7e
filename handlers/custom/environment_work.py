"""Handlers for `custom.environment_work.*` operations (see spec/openapi.yaml)."""

from gateway.planned import planned

list = planned("custom.environment_work.list")
poll = planned("custom.environment_work.poll")
stats = planned("custom.environment_work.stats")
retrieve = planned("custom.environment_work.retrieve")
update = planned("custom.environment_work.update")
ack = planned("custom.environment_work.ack")
heartbeat = planned("custom.environment_work.heartbeat")
stop = planned("custom.environment_work.stop")
