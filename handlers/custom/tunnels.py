"""Handlers for `custom.tunnels.*` operations (see spec/openapi.yaml)."""

from gateway.planned import planned

list = planned("custom.tunnels.list")
retrieve = planned("custom.tunnels.retrieve")
create = planned("custom.tunnels.create")
archive = planned("custom.tunnels.archive")
reveal_token = planned("custom.tunnels.reveal_token")
rotate_token = planned("custom.tunnels.rotate_token")
