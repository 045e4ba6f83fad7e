"""Handlers for `custom.user_profiles.*` operations (see spec/openapi.yaml)."""

from gateway.planned import planned

delete = planned("custom.user_profiles.delete")
list = planned("custom.user_profiles.list")
retrieve = planned("custom.user_profiles.retrieve")
create = planned("custom.user_profiles.create")
update = planned("custom.user_profiles.update")
create_enrollment_url = planned("custom.user_profiles.create_enrollment_url")
