"""Handlers for `custom.environments.*` operations (see spec/openapi.yaml)."""

from gateway.planned import planned

delete = planned("custom.environments.delete")
list = planned("custom.environments.list")
retrieve = planned("custom.environments.retrieve")
create = planned("custom.environments.create")
update = planned("custom.environments.update")
archive = planned("custom.environments.archive")
