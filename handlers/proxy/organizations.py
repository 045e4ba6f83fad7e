"""Handlers for `proxy.organizations.*` operations (see spec/openapi.yaml)."""

from gateway.planned import planned

admin_request_eligibility = planned("proxy.organizations.admin_request_eligibility")
list_my_admin_requests = planned("proxy.organizations.list_my_admin_requests")
code_repo = planned("proxy.organizations.code_repo")
overage_credit_grant = planned("proxy.organizations.overage_credit_grant")
referral_eligibility = planned("proxy.organizations.referral_eligibility")
create_admin_request = planned("proxy.organizations.create_admin_request")
