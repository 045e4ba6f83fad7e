"""Handlers for `custom.sessions.*` operations (see spec/openapi.yaml)."""

from gateway.planned import planned

delete = planned("custom.sessions.delete")
list = planned("custom.sessions.list")
retrieve = planned("custom.sessions.retrieve")
create = planned("custom.sessions.create")
update = planned("custom.sessions.update")
archive = planned("custom.sessions.archive")
