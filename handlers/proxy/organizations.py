"""Handlers for `proxy.organizations.*`: forwarded, or answered for the configured local organization."""

from __future__ import annotations

from typing import Any

from gateway.proxy.service import dispatch


async def referral_eligibility(org_uuid: str) -> Any:
    """GET /api/oauth/organizations/{org_uuid}/referral/eligibility"""
    return await dispatch(
        "proxy.organizations.referral_eligibility", lambda local, _r: local.referral_eligibility(org_uuid)
    )


async def overage_credit_grant(org_uuid: str) -> Any:
    """GET /api/oauth/organizations/{org_uuid}/overage_credit_grant"""
    return await dispatch(
        "proxy.organizations.overage_credit_grant", lambda local, _r: local.overage_credit_grant(org_uuid)
    )


async def code_repo(org_uuid: str, owner: str, repo: str) -> Any:
    """GET /api/oauth/organizations/{org_uuid}/code/repos/{owner}/{repo}"""
    return await dispatch("proxy.organizations.code_repo", lambda local, _r: local.code_repo(org_uuid, owner, repo))


async def admin_request_eligibility(org_uuid: str, request_type: str) -> Any:
    """GET /api/oauth/organizations/{org_uuid}/admin_requests/eligibility"""
    return await dispatch(
        "proxy.organizations.admin_request_eligibility",
        lambda local, _r: local.admin_request_eligibility(org_uuid, request_type),
    )


async def list_my_admin_requests(org_uuid: str, request_type: str, statuses: list[str] | None = None) -> Any:
    """GET /api/oauth/organizations/{org_uuid}/admin_requests/me"""
    return await dispatch(
        "proxy.organizations.list_my_admin_requests",
        lambda local, _r: local.list_my_admin_requests(org_uuid, request_type, statuses),
    )


async def create_admin_request(org_uuid: str) -> Any:
    """POST /api/oauth/organizations/{org_uuid}/admin_requests"""
    return await dispatch(
        "proxy.organizations.create_admin_request", lambda local, r: local.create_admin_request(org_uuid, r)
    )
