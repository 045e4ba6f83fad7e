"""Handlers for `custom.tunnel_certificates.*` operations (see spec/openapi.yaml): not built, see
handlers.custom.tunnels (a tunnel's certificates authenticate its connector to Anthropic's edge)."""

from gateway.planned import planned
from handlers.custom.tunnels import REASON

list = planned("custom.tunnel_certificates.list", REASON)
retrieve = planned("custom.tunnel_certificates.retrieve", REASON)
create = planned("custom.tunnel_certificates.create", REASON)
archive = planned("custom.tunnel_certificates.archive", REASON)
