"""Handlers for `custom.memory_versions.*` operations (see spec/openapi.yaml)."""

from gateway.planned import planned

list = planned("custom.memory_versions.list")
retrieve = planned("custom.memory_versions.retrieve")
redact = planned("custom.memory_versions.redact")
