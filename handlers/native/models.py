"""Handlers for `native.models.*` operations (see spec/openapi.yaml)."""

from gateway.planned import planned

list = planned("native.models.list")
retrieve = planned("native.models.retrieve")
