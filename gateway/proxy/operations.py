"""Which category and which Anthropic host each proxy operation belongs to.

Hosts follow claude-desktop-surface.md §1: the OAuth/API base ``api.anthropic.com`` for almost everything, the token
host ``platform.claude.com`` for ``/v1/oauth/token``, and ``claude.ai`` for the web app's ``/api/bootstrap``. Cookies
are forwarded only to claude.ai (the web bootstrap authenticates with the ``sessionKey`` cookie, §4 row 2.11); every
other operation authenticates with ``Authorization`` / ``x-api-key``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class ProxyOperation:
    operation_id: str
    category: str
    role: str  # key of ProxyConfig.upstreams: api | platform | claude_ai

    @property
    def forwards_cookies(self) -> bool:
        return self.role == "claude_ai"


def _ops(category: str, role: str, *names: str) -> dict[str, ProxyOperation]:
    return {f"proxy.{name}": ProxyOperation(f"proxy.{name}", category, role) for name in names}


OPERATIONS: Mapping[str, ProxyOperation] = {
    **_ops(
        "oauth",
        "api",
        "oauth.profile",
        "oauth.cli_profile",
        "oauth.roles",
        "oauth.create_api_key",
        "oauth.usage",
    ),
    **_ops("oauth", "platform", "oauth.token"),
    **_ops("bootstrap", "api", "bootstrap.cli_bootstrap"),
    **_ops("bootstrap", "claude_ai", "bootstrap.web_bootstrap"),
    **_ops(
        "organizations",
        "api",
        "organizations.referral_eligibility",
        "organizations.overage_credit_grant",
        "organizations.code_repo",
        "organizations.admin_request_eligibility",
        "organizations.list_my_admin_requests",
        "organizations.create_admin_request",
    ),
    **_ops("account_settings", "api", "account_settings.get", "account_settings.update"),
    **_ops("event_logging", "api", "event_logging.batch", "event_logging.batch_v2"),
    **_ops("voice", "api", "voice.stream"),
}

VOICE = OPERATIONS["proxy.voice.stream"]
