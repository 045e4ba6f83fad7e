"""Handlers for `custom.user_profile_action_urls.*` operations (see spec/openapi.yaml)."""

from gateway.planned import planned

create = planned("custom.user_profile_action_urls.create")
