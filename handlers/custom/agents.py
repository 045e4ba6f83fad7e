"""Handlers for `custom.agents.*` operations (see spec/openapi.yaml)."""

from gateway.planned import planned

list = planned("custom.agents.list")
retrieve = planned("custom.agents.retrieve")
create = planned("custom.agents.create")
update = planned("custom.agents.update")
archive = planned("custom.agents.archive")
