"""Handlers for `proxy.oauth.*` operations (see spec/openapi.yaml)."""

from gateway.planned import planned

cli_profile = planned("proxy.oauth.cli_profile")
roles = planned("proxy.oauth.roles")
profile = planned("proxy.oauth.profile")
usage = planned("proxy.oauth.usage")
create_api_key = planned("proxy.oauth.create_api_key")
token = planned("proxy.oauth.token")
