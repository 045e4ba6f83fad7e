"""Handlers for `custom.dreams.*` operations (see spec/openapi.yaml)."""

from gateway.planned import planned

list = planned("custom.dreams.list")
retrieve = planned("custom.dreams.retrieve")
create = planned("custom.dreams.create")
archive = planned("custom.dreams.archive")
cancel = planned("custom.dreams.cancel")
