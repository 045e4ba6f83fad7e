"""Handlers for `custom.tunnel_certificates.*` operations (see spec/openapi.yaml)."""

from gateway.planned import planned

list = planned("custom.tunnel_certificates.list")
retrieve = planned("custom.tunnel_certificates.retrieve")
create = planned("custom.tunnel_certificates.create")
archive = planned("custom.tunnel_certificates.archive")
