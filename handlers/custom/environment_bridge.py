"""Handlers for `custom.environment_bridge.*` operations (see spec/openapi.yaml)."""

from gateway.planned import planned

deregister = planned("custom.environment_bridge.deregister")
register = planned("custom.environment_bridge.register")
reconnect = planned("custom.environment_bridge.reconnect")
