"""Local-mode answers: what the gateway says itself, derived from its configuration and its own state.

The account and organization come from ``passthrough.local``; bootstrap model options from ``routing.models`` (or
the ``model_list`` groups); account settings and admin requests from the local store; usage from the gateway's own
request accounting; MCP servers from configuration. Shapes follow the spec's schemas (and through them
claude-desktop-surface.md §3-§6, §10.1).
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from gateway import __version__
from gateway.errors import InvalidRequest, NotFound, PermissionDenied
from gateway.proxy.accounting import RequestAccounting
from gateway.proxy.config import USAGE_WINDOWS, ProxyConfig
from gateway.proxy.event_sink import EventSink
from gateway.proxy.store import LocalStore

PER_MILLION = 1_000_000


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def blank_usage() -> dict[str, Any]:
    """``/api/oauth/usage`` with every window empty and no extra usage (filled in by the caller)."""
    return {
        "five_hour": None,
        "seven_day": None,
        "seven_day_oauth_apps": None,
        "seven_day_opus": None,
        "seven_day_sonnet": None,
        "extra_usage": {"is_enabled": False, "monthly_limit": None, "used_credits": None, "utilization": None},
    }


class BodyReader(Protocol):
    async def __call__(self) -> Any: ...


@dataclass(frozen=True)
class Tenant:
    """Whom a local answer is for. In local mode (no gateway keys) there is one tenant and the configured account
    and organization are its identities; with keys, each key (by name) has its own account id, settings and usage,
    and each workspace its own organization id and admin requests (ids derived from the configured ones)."""

    key: str = "local"
    workspace: str = "default"
    keyed: bool = False


LOCAL_TENANT = Tenant()


def _derived(base: str, kind: str, name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"litellm-gateway:{base}:{kind}:{name}"))


@dataclass(frozen=True)
class LocalRequest:
    """What a local answer may know about the request: its id, path, and (lazily) its JSON body."""

    request_id: str
    path: str
    json: BodyReader


class LocalAnswers:
    def __init__(self, config: ProxyConfig, store: LocalStore, accounting: RequestAccounting, sink: EventSink) -> None:
        self.config = config
        self.local = config.local
        self.store = store
        self.accounting = accounting
        self.sink = sink
        self.started_at = iso(accounting.started_at)
        self.tenant = LOCAL_TENANT

    def for_tenant(self, tenant: Tenant) -> LocalAnswers:
        """These answers as ``tenant`` sees them (a shallow copy; the store and accounting are shared)."""
        bound = copy.copy(self)
        bound.tenant = tenant
        return bound

    @property
    def account_uuid(self) -> str:
        base = self.local.account.uuid
        return _derived(base, "key", self.tenant.key) if self.tenant.keyed else base

    @property
    def organization_uuid(self) -> str:
        base = self.local.organization.uuid
        return _derived(base, "workspace", self.tenant.workspace) if self.tenant.keyed else base

    # --- identity -----------------------------------------------------------------------------------------------------
    def profile(self) -> dict[str, Any]:
        account = self.local.account
        org = self.local.organization
        acc: dict[str, Any] = {"uuid": self.account_uuid, "email": account.email, "display_name": account.display_name}
        if account.created_at is not None:
            acc["created_at"] = account.created_at
        return {
            "account": acc,
            "organization": {
                "uuid": self.organization_uuid,
                "name": org.name,
                "organization_type": org.organization_type,
                "rate_limit_tier": org.rate_limit_tier,
                "has_extra_usage_enabled": False,
                "billing_type": org.billing_type,
                "subscription_created_at": None,
                "cc_onboarding_flags": {},
                "claude_code_trial_ends_at": None,
                "claude_code_trial_duration_days": None,
            },
        }

    def cli_profile(self, account_uuid: str) -> dict[str, Any]:
        if account_uuid != self.account_uuid:
            raise NotFound(f"no account {account_uuid!r} on this gateway (local mode knows one account)")
        answer = self.profile()
        org_type = self.local.organization.organization_type
        answer["account"]["has_claude_max"] = org_type == "claude_max"
        answer["account"]["has_claude_pro"] = org_type == "claude_pro"
        return answer

    def roles(self) -> dict[str, Any]:
        org = self.local.organization
        return {"organization_role": org.role, "workspace_role": org.workspace_role, "organization_name": org.name}

    def oauth_account(self) -> dict[str, Any]:
        account = self.local.account
        org = self.local.organization
        return {
            "account_uuid": self.account_uuid,
            "account_email": account.email,
            "organization_uuid": self.organization_uuid,
            "organization_name": org.name,
            "organization_type": org.organization_type,
            "organization_rate_limit_tier": org.rate_limit_tier,
            "user_rate_limit_tier": None,
            "seat_tier": org.seat_tier,
        }

    def no_oauth_server(self, what: str) -> PermissionDenied:
        return PermissionDenied(
            f"{what} needs Anthropic: the oauth category is in local mode here, which runs no OAuth server "
            "(set passthrough.categories.oauth.mode: passthrough, or use a gateway API key)"
        )

    # --- bootstrap ----------------------------------------------------------------------------------------------------
    def cli_bootstrap(self) -> dict[str, Any]:
        options, costs = self.model_options()
        return {
            "client_data": dict(self.local.client_data),
            "additional_model_options": options,
            "additional_model_costs": costs,
            "oauth_account": self.oauth_account(),
        }

    def model_options(self) -> tuple[list[dict[str, str]], dict[str, dict[str, float]]]:
        """The routing table's model list (what /v1/models lists: ``routing.models``, else the routed Claude ids,
        groups and aliases); the ``model_list`` groups only if that list is empty."""
        options: list[dict[str, str]] = []
        costs: dict[str, dict[str, float]] = {}
        seen: set[str] = set()
        for entry in self.config.routing_models:
            model_id = entry.get("id")
            if isinstance(model_id, str) and model_id and model_id not in seen:
                seen.add(model_id)
                name = entry.get("display_name")
                options.append(
                    {
                        "model": model_id,
                        "name": name if isinstance(name, str) and name else model_id,
                        "description": str(entry.get("description") or "Routed by this gateway"),
                    }
                )
        from_list = not options
        for entry in self.config.model_list:
            group = entry.get("model_name")
            params = entry.get("litellm_params")
            info = entry.get("model_info")
            if not isinstance(group, str) or not group:
                continue
            backend = params.get("model") if isinstance(params, Mapping) else None
            if from_list and group not in seen:
                seen.add(group)
                description = info.get("description") if isinstance(info, Mapping) else None
                options.append(
                    {
                        "model": group,
                        "name": str(info.get("display_name") or group) if isinstance(info, Mapping) else group,
                        "description": str(description or f"Routed by this gateway to {backend or group}"),
                    }
                )
            price = _costs(params, info)
            if price is not None and group in seen:
                costs.setdefault(group, price)
        return options, costs

    def web_bootstrap(self) -> dict[str, Any]:
        account = self.local.account
        org = self.local.organization
        return {
            "account": {
                "uuid": self.account_uuid,
                "email_address": account.email,
                "memberships": [
                    {
                        "organization": {
                            "uuid": self.organization_uuid,
                            "name": org.name,
                            "rate_limit_tier": org.rate_limit_tier,
                            "raven_type": None,
                            "capabilities": list(org.capabilities),
                        },
                        "seat_tier": org.seat_tier,
                    }
                ],
            }
        }

    # --- usage --------------------------------------------------------------------------------------------------------
    def usage(self) -> dict[str, Any]:
        """Computed from the request accounting: with gateway keys, only the calling key's requests."""
        usage = self.local.usage
        key = self.tenant.key if self.tenant.keyed else None
        answer = blank_usage()
        counted: dict[str, int] = {}
        for window, seconds in USAGE_WINDOWS.items():
            count, oldest = self.accounting.window(seconds, usage.operations, key)
            counted[window] = count
            limit = usage.limits.get(window)
            if limit is not None:
                answer[window] = {
                    "utilization": round(min(100.0, 100.0 * count / limit), 2),
                    "resets_at": iso(oldest + seconds) if oldest is not None else None,
                }
        answer["gateway_requests"] = {
            "counted_operations": list(usage.operations),
            "windows": counted,
            "limits": dict(usage.limits),
            "since": self.started_at,
            "by_operation": self.accounting.by_operation(key),
        }
        return answer

    # --- account settings ---------------------------------------------------------------------------------------------
    def account_settings(self) -> dict[str, Any]:
        return self.store.account_settings(self.tenant.key)

    async def update_account_settings(self, request: LocalRequest) -> dict[str, Any]:
        body = await request.json()
        if not isinstance(body, Mapping):
            raise InvalidRequest("request body must be a JSON object")
        return await self.store.update_account_settings(self.tenant.key, body)

    # --- organizations ------------------------------------------------------------------------------------------------
    def _org(self, org_uuid: str) -> None:
        if org_uuid != self.organization_uuid:
            raise NotFound(f"no organization {org_uuid!r} on this gateway")

    def referral_eligibility(self, org_uuid: str) -> dict[str, Any]:
        self._org(org_uuid)
        return {"eligible": False, "referrer_reward": None, "remaining_passes": 0}

    def overage_credit_grant(self, org_uuid: str) -> dict[str, Any]:
        self._org(org_uuid)
        return {"available": False, "eligible": False, "granted": False, "amount_minor_units": None, "currency": None}

    def code_repo(self, org_uuid: str, owner: str, repo: str) -> dict[str, Any]:
        self._org(org_uuid)
        # the gateway has no GitHub app: the client reads status null as "not installed"
        return {"repo": {"name": repo, "owner": {"login": owner}}, "status": None}

    def admin_request_eligibility(self, org_uuid: str, request_type: str) -> dict[str, Any]:
        self._org(org_uuid)
        return {"request_type": request_type, "is_allowed": self.local.organization.admin_requests_allowed}

    def list_my_admin_requests(
        self, org_uuid: str, request_type: str, statuses: list[str] | None
    ) -> list[dict[str, Any]] | None:
        self._org(org_uuid)
        found = self.store.admin_requests(self.tenant.workspace, request_type, set(statuses or ()))
        return found or None

    async def create_admin_request(self, org_uuid: str, request: LocalRequest) -> dict[str, Any]:
        self._org(org_uuid)
        body = await request.json()
        if not self.local.organization.admin_requests_allowed:
            raise PermissionDenied(
                "admin requests are not enabled for this organization "
                "(passthrough.local.organization.admin_requests_allowed)"
            )
        if not isinstance(body, Mapping) or body.get("request_type") not in ("limit_increase", "seat_upgrade"):
            raise InvalidRequest("request_type must be limit_increase or seat_upgrade")
        created, _new = await self.store.create_admin_request(
            self.tenant.workspace, str(body["request_type"]), body.get("details"), self.account_uuid
        )
        return created

    # --- event logging ------------------------------------------------------------------------------------------------
    async def keep_events(self, request: LocalRequest) -> dict[str, Any]:
        body = await request.json()
        events = body.get("events") if isinstance(body, Mapping) else None
        if not isinstance(events, list):
            raise InvalidRequest("events must be an array")
        kept = await self.sink.keep(events, request_id=request.request_id, endpoint=request.path)
        return {"status": "ok", "kept": kept}

    # --- stubs --------------------------------------------------------------------------------------------------------
    def hello(self) -> dict[str, Any]:
        return {"message": "hello", "gateway": "litellm-gateway", "version": __version__}

    def mcp_servers(self, limit: int, page: str | None) -> dict[str, Any]:
        servers = self.local.mcp_servers
        start = 0
        if page:  # a decimal offset (the spec's pattern); past the end is an empty last page
            if not page.isdigit():
                raise InvalidRequest("invalid page cursor")
            start = min(int(page), len(servers))
        chunk = servers[start : start + limit]
        end = start + len(chunk)
        return {
            "data": [
                {
                    "type": "mcp_server",
                    "id": s.id,
                    "display_name": s.display_name,
                    "url": s.url,
                    "created_at": s.created_at or self.started_at,
                }
                for s in chunk
            ],
            "has_more": end < len(servers),
            "next_page": str(end) if end < len(servers) else None,
        }


def _costs(params: Any, info: Any) -> dict[str, float] | None:
    """LiteLLM's per-token prices (``input_cost_per_token`` …, in litellm_params or model_info) per million tokens."""
    sources = [m for m in (info, params) if isinstance(m, Mapping)]

    def find(key: str) -> float | None:
        for source in sources:
            value = source.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                return float(value)
        return None

    input_cost, output_cost = find("input_cost_per_token"), find("output_cost_per_token")
    if input_cost is None or output_cost is None:
        return None
    write = find("cache_creation_input_token_cost")
    read = find("cache_read_input_token_cost")
    return {
        "input_tokens": round(input_cost * PER_MILLION, 6),
        "output_tokens": round(output_cost * PER_MILLION, 6),
        "prompt_cache_write_tokens": round((write if write is not None else input_cost) * PER_MILLION, 6),
        "prompt_cache_read_tokens": round((read if read is not None else input_cost) * PER_MILLION, 6),
    }
