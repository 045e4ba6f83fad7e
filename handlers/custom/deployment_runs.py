"""Handlers for `custom.deployment_runs.*` operations (see spec/openapi.yaml)."""

from gateway.planned import planned

list = planned("custom.deployment_runs.list")
retrieve = planned("custom.deployment_runs.retrieve")
