"""Handlers for `custom.skills.*` operations (see spec/openapi.yaml)."""

from gateway.planned import planned

delete = planned("custom.skills.delete")
list = planned("custom.skills.list")
retrieve = planned("custom.skills.retrieve")
create = planned("custom.skills.create")
