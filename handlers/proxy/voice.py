"""Handlers for `proxy.voice.*` operations (see spec/openapi.yaml)."""

from gateway.planned import planned

stream = planned("proxy.voice.stream")
