"""Handlers for `proxy.bootstrap.*` operations (see spec/openapi.yaml)."""

from gateway.planned import planned

web_bootstrap = planned("proxy.bootstrap.web_bootstrap")
cli_bootstrap = planned("proxy.bootstrap.cli_bootstrap")
