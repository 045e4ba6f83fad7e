"""Handlers for `custom.memory_stores.*` operations (see spec/openapi.yaml)."""

from gateway.planned import planned

delete = planned("custom.memory_stores.delete")
list = planned("custom.memory_stores.list")
retrieve = planned("custom.memory_stores.retrieve")
create = planned("custom.memory_stores.create")
update = planned("custom.memory_stores.update")
archive = planned("custom.memory_stores.archive")
