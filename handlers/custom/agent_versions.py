"""Handlers for `custom.agent_versions.*` operations (see spec/openapi.yaml)."""

from gateway.planned import planned

list = planned("custom.agent_versions.list")
