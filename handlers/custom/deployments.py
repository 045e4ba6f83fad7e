"""Handlers for `custom.deployments.*` operations (see spec/openapi.yaml)."""

from gateway.planned import planned

list = planned("custom.deployments.list")
retrieve = planned("custom.deployments.retrieve")
create = planned("custom.deployments.create")
update = planned("custom.deployments.update")
archive = planned("custom.deployments.archive")
pause = planned("custom.deployments.pause")
run = planned("custom.deployments.run")
unpause = planned("custom.deployments.unpause")
