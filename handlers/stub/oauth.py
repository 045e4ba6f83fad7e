"""Handlers for `stub.oauth.*` operations (see spec/openapi.yaml)."""

from gateway.planned import planned

hello = planned("stub.oauth.hello")
hello_head = planned("stub.oauth.hello_head")
