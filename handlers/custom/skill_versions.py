"""Handlers for `custom.skill_versions.*` operations (see spec/openapi.yaml)."""

from gateway.planned import planned

delete = planned("custom.skill_versions.delete")
list = planned("custom.skill_versions.list")
retrieve = planned("custom.skill_versions.retrieve")
download = planned("custom.skill_versions.download")
create = planned("custom.skill_versions.create")
