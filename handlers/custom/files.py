"""Handlers for `custom.files.*` operations (see spec/openapi.yaml)."""

from gateway.planned import planned

delete = planned("custom.files.delete")
list = planned("custom.files.list")
retrieve_metadata = planned("custom.files.retrieve_metadata")
download = planned("custom.files.download")
upload = planned("custom.files.upload")
