"""The ``passthrough:`` section: upstream hosts, mode per category, timeouts, event-log sink, the local account.

```yaml
passthrough:
  mode: local                  # default mode of every category: local (answer here) | passthrough (to Anthropic)
  upstreams:                   # base URL of each Anthropic host (e.g. a corporate egress); http(s), optional path
    api: https://api.anthropic.com
    platform: https://platform.claude.com
    claude_ai: https://claude.ai
  timeouts: {connect: 10, read: 120}   # seconds; read = longest wait for the next upstream byte (headers included)
  categories:                  # oauth, bootstrap, organizations, account_settings, event_logging, voice
    oauth: {mode: passthrough, upstream: https://egress.example/anthropic, timeouts: {read: 30}}
    event_logging:
      mode: keep               # forward (= passthrough) | keep (= local: a JSONL sink on this machine)
      sink: {path: events.jsonl, max_bytes: 10 MiB, backups: 5}
  local:                       # what local mode answers with
    data_dir: ~/.local/share/litellm-gateway   # account settings + admin requests; omit to keep them in memory
    account: {uuid: ..., email: you@example.com, display_name: You}
    organization: {uuid: ..., name: Local, organization_type: null, role: admin}
    usage: {limits: {five_hour: 500, seven_day: 5000}, operations: [native.messages.create]}
    mcp_servers: [{display_name: Docs, url: http://localhost:4000/docs/mcp}]
```

:func:`parse_proxy_config` validates the whole section and raises :class:`~gateway.settings.ConfigError` naming the
field path (``passthrough.categories.oauth.mode: ...``). The lifespan and ``check-config`` both call it.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from gateway.settings import ConfigError, Settings, ValueParser

Mode = Literal["passthrough", "local"]
Role = Literal["api", "platform", "claude_ai"]

SECTION = "passthrough"
CATEGORIES = ("oauth", "bootstrap", "organizations", "account_settings", "event_logging", "voice")
DEFAULT_UPSTREAMS: Mapping[str, str] = {
    "api": "https://api.anthropic.com",
    "platform": "https://platform.claude.com",
    "claude_ai": "https://claude.ai",
}
MODE_WORDS: Mapping[str, Mode] = {"passthrough": "passthrough", "local": "local", "forward": "passthrough"}
EVENT_MODE_WORDS: Mapping[str, Mode] = {**MODE_WORDS, "keep": "local"}
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT = 120.0
DEFAULT_SINK_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_SINK_BACKUPS = 5
DEFAULT_USAGE_OPERATIONS = ("native.messages.create", "native.complete.create")
USAGE_WINDOWS: Mapping[str, int] = {"five_hour": 5 * 3600, "seven_day": 7 * 86400}
# a fixed namespace so that the default local ids are the same on every start
_LOCAL_NAMESPACE = uuid.UUID("6f1d9a52-3b8e-4c7a-9e21-5d0c4b7f8a13")
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


@dataclass(frozen=True)
class Upstream:
    """One upstream base URL, split once: only these hosts are ever contacted."""

    scheme: str  # http | https
    host: str
    port: int | None
    base_path: str  # "" or "/prefix" without a trailing slash

    @property
    def origin(self) -> str:
        port = f":{self.port}" if self.port is not None else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}{port}"

    def __str__(self) -> str:
        return self.origin + self.base_path


@dataclass(frozen=True)
class Timeouts:
    connect: float = DEFAULT_CONNECT_TIMEOUT
    read: float = DEFAULT_READ_TIMEOUT


@dataclass(frozen=True)
class SinkConfig:
    path: Path | None  # None: kept events are counted and discarded
    max_bytes: int = DEFAULT_SINK_MAX_BYTES
    backups: int = DEFAULT_SINK_BACKUPS


@dataclass(frozen=True)
class Category:
    name: str
    mode: Mode
    upstream: Upstream | None  # replaces the default host of every operation of the category
    timeouts: Timeouts


@dataclass(frozen=True)
class LocalAccount:
    uuid: str
    email: str
    display_name: str | None
    created_at: str | None


@dataclass(frozen=True)
class LocalOrganization:
    uuid: str
    name: str
    organization_type: str | None
    rate_limit_tier: str | None
    billing_type: str | None
    role: str
    workspace_role: str | None
    seat_tier: str | None
    capabilities: tuple[str, ...]
    admin_requests_allowed: bool


@dataclass(frozen=True)
class McpServer:
    id: str
    display_name: str
    url: str
    created_at: str | None  # None: the time the gateway started


@dataclass(frozen=True)
class UsageConfig:
    limits: Mapping[str, int]  # window name -> requests per window
    operations: tuple[str, ...]


@dataclass(frozen=True)
class LocalConfig:
    data_dir: Path | None
    account: LocalAccount
    organization: LocalOrganization
    usage: UsageConfig
    client_data: Mapping[str, Any]
    mcp_servers: tuple[McpServer, ...]


@dataclass(frozen=True)
class ProxyConfig:
    upstreams: Mapping[str, Upstream]
    categories: Mapping[str, Category]
    sink: SinkConfig
    local: LocalConfig
    model_list: tuple[Mapping[str, Any], ...] = field(default=(), repr=False)
    routing_models: tuple[Mapping[str, Any], ...] = field(default=(), repr=False)

    def category(self, name: str) -> Category:
        return self.categories[name]

    def upstream_for(self, category: str, role: str) -> Upstream:
        override = self.categories[category].upstream
        return override if override is not None else self.upstreams[role]

    def hosts(self) -> list[str]:
        """Every upstream origin this configuration may contact (for logs and check-config)."""
        seen = {str(u) for u in self.upstreams.values()}
        seen |= {str(c.upstream) for c in self.categories.values() if c.upstream is not None}
        return sorted(seen)


def parse_proxy_config(settings: Settings, *, environ: Mapping[str, str] | None = None) -> ProxyConfig:
    """Validate the ``passthrough:`` section of ``settings.raw`` (absent = every category local)."""
    base_dir = settings.config_path.parent if settings.config_path is not None else Path.cwd()
    section = settings.raw.get(SECTION)
    parser = _Parser(os.environ if environ is None else environ, base_dir)
    config = parser.config({} if section is None else section, SECTION)
    return config_with_models(config, settings.raw)


def config_with_models(config: ProxyConfig, raw: Mapping[str, Any]) -> ProxyConfig:
    """Attach the ``model_list`` entries (for prices) and the routing table's one model list (what ``/v1/models``
    lists: :func:`gateway.routing.router.catalogue`) as the bootstrap's model options."""
    from gateway.routing.config import parse_routing
    from gateway.routing.router import catalogue

    model_list = raw.get("model_list")
    routing = parse_routing(raw)
    models = []
    for mid, name in catalogue(routing):
        deployments = routing.groups.get(mid, ())
        backend = f" to {deployments[0].litellm_model}" if deployments else ""
        models.append({"id": mid, "display_name": name, "description": f"Routed by this gateway{backend}"})
    return ProxyConfig(
        upstreams=config.upstreams,
        categories=config.categories,
        sink=config.sink,
        local=config.local,
        model_list=tuple(m for m in (model_list or ()) if isinstance(m, Mapping))
        if isinstance(model_list, list | tuple)
        else (),
        routing_models=tuple(models),
    )


def local_uuid(name: str) -> str:
    """A stable uuid for a default local identity (the same on every start)."""
    return str(uuid.uuid5(_LOCAL_NAMESPACE, name))


class _Parser(ValueParser):
    """The passthrough section's readers, on top of the shared value readers of gateway.settings."""

    def seconds(self, value: Any, path: str) -> float:
        value = self.env(value, path)
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 86400:
            raise ConfigError(f"{path}: must be a number of seconds between 0 and 86400")
        return float(value)

    def positive_int(self, value: Any, path: str, *, allow_zero: bool = False) -> int:
        value = self.env(value, path)
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or value < (0 if allow_zero else 1):
            raise ConfigError(f"{path}: must be an integer {'>= 0' if allow_zero else '>= 1'}")
        return value

    def timestamp(self, value: Any, path: str) -> str | None:
        if value is None:
            return None
        if hasattr(value, "isoformat"):  # YAML parses unquoted timestamps into datetime objects
            value = value.isoformat()
        text = self.string(value, path)
        if not _RFC3339.match(text):
            raise ConfigError(f"{path}: must be an RFC 3339 timestamp such as 2026-01-31T09:00:00Z")
        return text

    def upstream(self, value: Any, path: str) -> Upstream:
        text = self.string(value, path)
        try:
            parts = urlsplit(text)
            port = parts.port
        except ValueError as exc:
            raise ConfigError(f"{path}: not a valid URL ({exc})") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"{path}: must be an http:// or https:// URL with a host")
        if parts.username or parts.password or parts.query or parts.fragment:
            raise ConfigError(f"{path}: must not contain credentials, a query or a fragment")
        base_path = parts.path.rstrip("/")
        if base_path and not base_path.startswith("/"):
            raise ConfigError(f"{path}: invalid path")
        return Upstream(scheme=parts.scheme, host=parts.hostname, port=port, base_path=base_path)

    def mode(self, value: Any, path: str, words: Mapping[str, Mode]) -> Mode:
        text = self.string(value, path).lower()
        if text not in words:
            raise ConfigError(f"{path}: must be one of {', '.join(words)}")
        return words[text]

    # --- sections ---------------------------------------------------------------------------------------------------
    def timeouts(self, value: Any, path: str, default: Timeouts) -> Timeouts:
        section = self.mapping(value, path, ("connect", "read"))
        return Timeouts(
            connect=self.seconds(section["connect"], f"{path}.connect") if "connect" in section else default.connect,
            read=self.seconds(section["read"], f"{path}.read") if "read" in section else default.read,
        )

    def config(self, value: Any, path: str) -> ProxyConfig:
        section = self.mapping(value, path, ("mode", "upstreams", "timeouts", "categories", "local"))
        default_mode = self.mode(section["mode"], f"{path}.mode", MODE_WORDS) if "mode" in section else "local"
        ups = self.mapping(section.get("upstreams"), f"{path}.upstreams", tuple(DEFAULT_UPSTREAMS))
        upstreams = {
            role: self.upstream(ups.get(role, default), f"{path}.upstreams.{role}")
            for role, default in DEFAULT_UPSTREAMS.items()
        }
        timeouts = self.timeouts(section.get("timeouts"), f"{path}.timeouts", Timeouts())
        local = self.local(section.get("local"), f"{path}.local")
        cats = self.mapping(section.get("categories"), f"{path}.categories", CATEGORIES)
        categories: dict[str, Category] = {}
        sink = SinkConfig(path=local.data_dir / "event_logging.jsonl" if local.data_dir is not None else None)
        for name in CATEGORIES:
            cpath = f"{path}.categories.{name}"
            known = ("mode", "upstream", "timeouts") + (("sink",) if name == "event_logging" else ())
            cat = self.mapping(cats.get(name), cpath, known)
            words = EVENT_MODE_WORDS if name == "event_logging" else MODE_WORDS
            categories[name] = Category(
                name=name,
                mode=self.mode(cat["mode"], f"{cpath}.mode", words) if "mode" in cat else default_mode,
                upstream=self.upstream(cat["upstream"], f"{cpath}.upstream") if "upstream" in cat else None,
                timeouts=self.timeouts(cat.get("timeouts"), f"{cpath}.timeouts", timeouts),
            )
            if name == "event_logging" and "sink" in cat:
                sink = self.sink(cat["sink"], f"{cpath}.sink", sink)
        return ProxyConfig(upstreams=upstreams, categories=categories, sink=sink, local=local)

    def sink(self, value: Any, path: str, default: SinkConfig) -> SinkConfig:
        section = self.mapping(value, path, ("path", "max_bytes", "backups"))
        return SinkConfig(
            path=self.path(section["path"], f"{path}.path") if "path" in section else default.path,
            max_bytes=self.size(section["max_bytes"], f"{path}.max_bytes")
            if "max_bytes" in section
            else default.max_bytes,
            backups=self.positive_int(section["backups"], f"{path}.backups", allow_zero=True)
            if "backups" in section
            else default.backups,
        )

    def local(self, value: Any, path: str) -> LocalConfig:
        known = ("data_dir", "account", "organization", "usage", "client_data", "mcp_servers")
        section = self.mapping(value, path, known)
        client_data = section.get("client_data")
        if client_data is not None and not isinstance(client_data, Mapping):
            raise ConfigError(f"{path}.client_data: must be a mapping")
        account = self.account(section.get("account"), f"{path}.account")
        return LocalConfig(
            data_dir=self.path(section["data_dir"], f"{path}.data_dir") if section.get("data_dir") else None,
            account=account,
            organization=self.organization(section.get("organization"), f"{path}.organization", account),
            usage=self.usage(section.get("usage"), f"{path}.usage"),
            client_data=_thaw(client_data or {}),
            mcp_servers=self.mcp_servers(section.get("mcp_servers"), f"{path}.mcp_servers"),
        )

    def account(self, value: Any, path: str) -> LocalAccount:
        section = self.mapping(value, path, ("uuid", "email", "display_name", "created_at"))
        email = self.string(section.get("email", "local@localhost"), f"{path}.email")
        return LocalAccount(
            uuid=self.string(section["uuid"], f"{path}.uuid") if "uuid" in section else local_uuid("account:" + email),
            email=email,
            display_name=self.optional_string(section.get("display_name", "Local user"), f"{path}.display_name"),
            created_at=self.timestamp(section.get("created_at"), f"{path}.created_at"),
        )

    def organization(self, value: Any, path: str, account: LocalAccount) -> LocalOrganization:
        known = (
            "uuid",
            "name",
            "organization_type",
            "rate_limit_tier",
            "billing_type",
            "role",
            "workspace_role",
            "seat_tier",
            "capabilities",
            "admin_requests_allowed",
        )
        s = self.mapping(value, path, known)
        name = self.string(s.get("name", f"{account.email}'s Organization"), f"{path}.name")
        capabilities = s.get("capabilities", ())
        if not isinstance(capabilities, list | tuple) or not all(isinstance(c, str) for c in capabilities):
            raise ConfigError(f"{path}.capabilities: must be a list of strings")
        return LocalOrganization(
            uuid=self.string(s["uuid"], f"{path}.uuid") if "uuid" in s else local_uuid("organization:" + name),
            name=name,
            organization_type=self.optional_string(s.get("organization_type"), f"{path}.organization_type"),
            rate_limit_tier=self.optional_string(s.get("rate_limit_tier"), f"{path}.rate_limit_tier"),
            billing_type=self.optional_string(s.get("billing_type"), f"{path}.billing_type"),
            role=self.string(s.get("role", "admin"), f"{path}.role"),
            workspace_role=self.optional_string(s.get("workspace_role"), f"{path}.workspace_role"),
            seat_tier=self.optional_string(s.get("seat_tier"), f"{path}.seat_tier"),
            capabilities=tuple(capabilities),
            admin_requests_allowed=self.boolean(s["admin_requests_allowed"], f"{path}.admin_requests_allowed")
            if "admin_requests_allowed" in s
            else False,
        )

    def usage(self, value: Any, path: str) -> UsageConfig:
        section = self.mapping(value, path, ("limits", "operations"))
        limits_section = self.mapping(section.get("limits"), f"{path}.limits", tuple(USAGE_WINDOWS))
        limits = {k: self.positive_int(v, f"{path}.limits.{k}") for k, v in limits_section.items() if v is not None}
        ops = section.get("operations", DEFAULT_USAGE_OPERATIONS)
        if not isinstance(ops, list | tuple) or not all(isinstance(o, str) and o for o in ops):
            raise ConfigError(f"{path}.operations: must be a list of operationIds")
        return UsageConfig(limits=limits, operations=tuple(ops))

    def mcp_servers(self, value: Any, path: str) -> tuple[McpServer, ...]:
        if value is None:
            return ()
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{path}: must be a list of {{display_name, url}} entries")
        servers: list[McpServer] = []
        ids: set[str] = set()
        for i, entry in enumerate(value):
            item = f"{path}[{i}]"
            s = self.mapping(entry, item, ("id", "display_name", "url", "created_at"))
            for required in ("display_name", "url"):
                if required not in s:
                    raise ConfigError(f"{item}.{required}: required")
            url = self.string(s["url"], f"{item}.url")
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ConfigError(f"{item}.url: must be an http:// or https:// URL")
            server_id = (
                self.string(s["id"], f"{item}.id") if "id" in s else "mcprs_" + uuid.uuid5(_LOCAL_NAMESPACE, url).hex
            )
            if server_id in ids:
                raise ConfigError(f"{item}.id: duplicate id {server_id}")
            ids.add(server_id)
            servers.append(
                McpServer(
                    id=server_id,
                    display_name=self.string(s["display_name"], f"{item}.display_name"),
                    url=url,
                    created_at=self.timestamp(s.get("created_at"), f"{item}.created_at"),
                )
            )
        return tuple(servers)


def _thaw(value: Any) -> Any:
    """Plain dicts and lists from the read-only copies in ``Settings.raw`` (for JSON answers)."""
    if isinstance(value, Mapping):
        return {str(k): _thaw(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_thaw(v) for v in value]
    return value
