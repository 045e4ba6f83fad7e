"""Handlers for `proxy.account_settings.*` operations (see spec/openapi.yaml)."""

from gateway.planned import planned

get = planned("proxy.account_settings.get")
update = planned("proxy.account_settings.update")
