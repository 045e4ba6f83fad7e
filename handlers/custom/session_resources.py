"""Handlers for `custom.session_resources.*` operations (see spec/openapi.yaml)."""

from gateway.planned import planned

delete = planned("custom.session_resources.delete")
list = planned("custom.session_resources.list")
retrieve = planned("custom.session_resources.retrieve")
add = planned("custom.session_resources.add")
update = planned("custom.session_resources.update")
