"""Handlers for `custom.vault_credentials.*` operations (see spec/openapi.yaml)."""

from gateway.planned import planned

delete = planned("custom.vault_credentials.delete")
list = planned("custom.vault_credentials.list")
retrieve = planned("custom.vault_credentials.retrieve")
create = planned("custom.vault_credentials.create")
update = planned("custom.vault_credentials.update")
archive = planned("custom.vault_credentials.archive")
mcp_oauth_validate = planned("custom.vault_credentials.mcp_oauth_validate")
