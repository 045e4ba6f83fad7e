"""Handlers for `custom.session_files.*` operations (see spec/openapi.yaml)."""

from gateway.planned import planned

download = planned("custom.session_files.download")
upload = planned("custom.session_files.upload")
