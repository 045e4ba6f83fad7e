"""Handlers for `custom.user_profile_data_controls.*` operations (see spec/openapi.yaml)."""

from gateway.planned import planned

retrieve = planned("custom.user_profile_data_controls.retrieve")
update = planned("custom.user_profile_data_controls.update")
