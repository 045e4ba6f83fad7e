"""Handlers for `custom.memories.*` operations (see spec/openapi.yaml)."""

from gateway.planned import planned

delete = planned("custom.memories.delete")
list = planned("custom.memories.list")
retrieve = planned("custom.memories.retrieve")
create = planned("custom.memories.create")
update = planned("custom.memories.update")
