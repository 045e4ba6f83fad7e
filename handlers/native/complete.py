"""Handlers for `native.complete.*` operations (see spec/openapi.yaml)."""

from gateway.planned import planned

create = planned("native.complete.create")
