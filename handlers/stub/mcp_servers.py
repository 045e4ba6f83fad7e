"""Handlers for `stub.mcp_servers.*` operations (see spec/openapi.yaml)."""

from gateway.planned import planned

list = planned("stub.mcp_servers.list")
