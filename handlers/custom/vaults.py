"""Handlers for `custom.vaults.*` operations (see spec/openapi.yaml)."""

from gateway.planned import planned

delete = planned("custom.vaults.delete")
list = planned("custom.vaults.list")
retrieve = planned("custom.vaults.retrieve")
create = planned("custom.vaults.create")
update = planned("custom.vaults.update")
archive = planned("custom.vaults.archive")
