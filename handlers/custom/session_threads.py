"""Handlers for `custom.session_threads.*` operations (see spec/openapi.yaml)."""

from gateway.planned import planned

list = planned("custom.session_threads.list")
retrieve = planned("custom.session_threads.retrieve")
archive = planned("custom.session_threads.archive")
