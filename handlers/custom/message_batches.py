"""Handlers for `custom.message_batches.*` operations (see spec/openapi.yaml)."""

from gateway.planned import planned

delete = planned("custom.message_batches.delete")
list = planned("custom.message_batches.list")
retrieve = planned("custom.message_batches.retrieve")
results = planned("custom.message_batches.results")
create = planned("custom.message_batches.create")
cancel = planned("custom.message_batches.cancel")
