"""Handlers for `native.messages.*` operations (see spec/openapi.yaml)."""

from gateway.planned import planned

create = planned("native.messages.create")
count_tokens = planned("native.messages.count_tokens")
