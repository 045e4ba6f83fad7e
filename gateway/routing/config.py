"""The routing configuration, in LiteLLM's config.yaml conventions plus a ``routing:`` section.

```yaml
model_list:                                  # deployments; model_name is the model group
  - model_name: claude                       # `anthropic/*` forwards the client's own model id
    litellm_params: {model: anthropic/*, api_key: os.environ/ANTHROPIC_API_KEY}
  - model_name: deepseek                     # two deployments in one group share the load
    litellm_params: {model: deepseek/deepseek-v4-pro, api_key: os.environ/DEEPSEEK_API_KEY, rpm: 600, weight: 2}
  - model_name: deepseek
    litellm_params: {model: deepseek/deepseek-v4-pro, api_key: os.environ/DEEPSEEK_KEY_2, tpm: 2000000}
  - model_name: mimo-auto                    # MimoAuto: the MiMo model and thinking switch follow the effort
    litellm_params: {model: mimo_auto/, api_key: os.environ/MIMO_API_KEY}
    model_info: {effort_table: {high: {model: mimo-v2.5-pro, thinking: true}}, tokenizer: deepseek}
router_settings:
  fallbacks: [{claude: [deepseek]}]
  routing_strategy: simple-shuffle           # | least-busy | latency-based-routing
  model_group_alias: {fast: deepseek}        # or {fast: {model: deepseek, hidden: true}}
  num_retries: 0                             # extra attempts on the SAME deployment (failover is separate)
  cooldown_time: 30
  allowed_fails: 1
  timeout: 600
  redis_url: redis://127.0.0.1:6379/0        # share cooldowns between gateway processes
routing:
  default: claude
  keepalive_seconds: 10                      # SSE comment during upstream silence
  stream_idle_timeout_seconds: 300           # then an SSE error event, and the stream ends
  prompt_cache_affinity: true                # turns of one conversation stay on one deployment of a group
  affinity_ttl_seconds: 3600
  rules:                                     # first match wins
    - {tier: haiku, group: deepseek}
    - {tier: opus, effort: [xhigh, max], group: claude}
    - {model: "claude-fable*", group: mimo-auto}
  models: [{id: claude-opus-5-5, display_name: Claude Opus 5.5}]   # what /v1/models lists
```
Backend kinds by provider prefix: ``anthropic/`` (api.anthropic.com), ``deepseek/`` (DeepSeek's Anthropic endpoint),
``mimo/`` (MiMo's Anthropic endpoint), ``mimo_auto/`` (virtual), any other litellm provider → litellm (translated).
An unknown provider prefix is a configuration error.

Every section is strict (pydantic models that refuse unknown keys): a typo is a :class:`ConfigError` that names the
field path and the known keys. Values written ``os.environ/NAME`` in ``litellm_params`` and ``redis_url`` are read
from the environment.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from gateway.extras import MissingExtra
from gateway.routing.model_ids import EFFORTS, TIERS, tier_of
from gateway.settings import ConfigError, ValueParser

Kind = Literal["anthropic", "deepseek", "mimo", "mimo_auto", "litellm"]
Strategy = Literal["simple-shuffle", "least-busy", "latency-based-routing"]
ANTHROPIC_WIRE: tuple[Kind, ...] = ("anthropic", "deepseek", "mimo", "mimo_auto")
DEFAULT_BASES: dict[str, str] = {
    "anthropic": "https://api.anthropic.com",
    "deepseek": "https://api.deepseek.com/anthropic",
    "mimo": "https://api.xiaomimimo.com/anthropic",
    "mimo_auto": "https://api.xiaomimimo.com/anthropic",
}
# MimoAuto's default table: effort -> (MiMo model, thinking on)
DEFAULT_MIMO_AUTO: dict[str, tuple[str, bool]] = {
    "none": ("mimo-v2-flash", False),
    "low": ("mimo-v2-flash", False),
    "medium": ("mimo-v2.5", True),
    "high": ("mimo-v2.5-pro", True),
    "xhigh": ("mimo-v2.5-pro", True),
    "max": ("mimo-v2.5-pro", True),
}
DEFAULT_MODELS: tuple[tuple[str, str], ...] = (
    ("claude-opus-5-5", "Claude Opus 5.5"),
    ("claude-sonnet-5-5", "Claude Sonnet 5.5"),
    ("claude-haiku-5-5", "Claude Haiku 5.5"),
)
TOKENIZERS = ("deepseek", "o200k", "claude")


@dataclass(frozen=True)
class Deployment:
    id: str  # "<group>/<index>": names the deployment in headers and logs; never holds a secret
    group: str
    kind: Kind
    model: str  # upstream model id; "*" forwards the client's model id
    litellm_model: str  # the full `litellm_params.model`
    api_base: str
    api_key: str | None = field(repr=False)
    timeout: float
    mimo_auto: Mapping[str, tuple[str, bool]] = field(default_factory=dict)
    litellm_params: Mapping[str, Any] = field(default_factory=dict, repr=False)
    rpm: int | None = None
    tpm: int | None = None
    weight: float = 1.0
    tokenizer: str | None = None  # local count_tokens tokenizer (None: chosen by kind)

    @property
    def host(self) -> str:
        return self.api_base.split("://", 1)[-1].split("/", 1)[0]


@dataclass(frozen=True)
class Rule:
    tiers: frozenset[str] | None
    efforts: frozenset[str] | None
    models: tuple[str, ...]
    group: str

    def matches(self, model: str, tier: str | None, effort: str | None) -> bool:
        if self.tiers is not None and tier not in self.tiers:
            return False
        if self.efforts is not None and (effort or "none") not in self.efforts:
            return False
        return not self.models or any(fnmatch.fnmatchcase(model.lower(), p.lower()) for p in self.models)


@dataclass(frozen=True)
class RoutingConfig:
    groups: Mapping[str, tuple[Deployment, ...]]
    rules: tuple[Rule, ...]
    default_group: str | None
    fallbacks: Mapping[str, tuple[str, ...]]
    cooldown_seconds: float
    allowed_fails: int
    keepalive_seconds: float
    stream_idle_timeout_seconds: float
    models: tuple[tuple[str, str], ...]  # routing.models as configured (empty: none configured)
    redis_url: str | None = None
    aliases: Mapping[str, str] = field(default_factory=dict)  # router_settings.model_group_alias: alias -> group
    hidden_aliases: frozenset[str] = frozenset()
    strategy: Strategy = "simple-shuffle"
    num_retries: int = 0
    prompt_cache_affinity: bool = True
    affinity_ttl_seconds: float = 3600.0

    def group_for(self, model: str, tier: str | None, effort: str | None) -> str | None:
        """The group of a request (exact group name, then alias, then the first matching rule, then the default)."""
        if model in self.groups:
            return model
        if model in self.aliases:
            return self.aliases[model]
        for rule in self.rules:
            if rule.matches(model, tier, effort):
                return rule.group
        return self.default_group

    @property
    def needs_litellm(self) -> bool:
        return any(d.kind == "litellm" for group in self.groups.values() for d in group)

    @property
    def max_attempts(self) -> int:
        """Worst-case upstream attempts for one client request: every candidate deployment (largest chain of a group
        and its fallbacks), each tried ``1 + num_retries`` times."""
        chains = [
            sum(len(self.groups[g]) for g in dict.fromkeys([name, *self.fallbacks.get(name, ())]))
            for name in self.groups
        ]
        return max(chains, default=0) * (1 + self.num_retries)


# -- the schema ----------------------------------------------------------------------------------------------------
class _Strict(BaseModel):
    """Refuses unknown keys, naming them and the known ones."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            known = [f.alias or name for name, f in cls.model_fields.items()]
            for key in data:
                if key not in known:
                    raise PydanticCustomError(
                        "unknown_key", "unknown key (known: {known})", {"key": str(key), "known": ", ".join(known)}
                    )
        return data


class _EffortEntry(_Strict):
    model: str
    thinking: bool = True


class _Prices(_Strict):
    """LiteLLM's per-token prices (read by the CLI bootstrap's model costs), in litellm_params or model_info."""

    input_cost_per_token: float | None = None
    output_cost_per_token: float | None = None
    cache_creation_input_token_cost: float | None = None
    cache_read_input_token_cost: float | None = None


class _ModelInfo(_Prices):
    id: str | None = None
    display_name: str | None = None
    description: str | None = None
    base_model: str | None = None
    mode: str | None = None
    max_tokens: int | None = None
    max_input_tokens: int | None = None
    max_output_tokens: int | None = None
    effort_table: dict[str, _EffortEntry] | None = None
    tokenizer: Literal["deepseek", "o200k", "claude"] | None = None


class _LitellmParams(_Prices):
    model: str = Field(min_length=1)
    api_base: str | None = None
    api_key: str | None = None
    api_version: str | None = None
    organization: str | None = None
    custom_llm_provider: str | None = None
    extra_headers: dict[str, str] | None = None
    drop_params: bool | None = None
    timeout: float | None = Field(default=None, ge=0)
    rpm: int | None = Field(default=None, ge=1)
    tpm: int | None = Field(default=None, ge=1)
    weight: float | None = Field(default=None, gt=0)


class _ModelEntry(_Strict):
    model_name: str = Field(min_length=1)
    litellm_params: _LitellmParams
    model_info: _ModelInfo | None = None


class _AliasEntry(_Strict):
    model: str
    hidden: bool = False


class _RouterSettings(_Strict):
    fallbacks: list[dict[str, list[str] | str]] = Field(default_factory=list)
    cooldown_time: float = Field(default=30.0, ge=0)
    allowed_fails: int = Field(default=1, ge=0)
    timeout: float = Field(default=600.0, ge=0)
    redis_url: str | None = None
    num_retries: int = Field(default=0, ge=0, le=10)
    routing_strategy: Strategy = "simple-shuffle"
    model_group_alias: dict[str, str | _AliasEntry] = Field(default_factory=dict)


class _RuleEntry(_Strict):
    tier: Any = None
    effort: Any = None
    model: str | list[str] = Field(default_factory=list)
    group: str


class _ModelListing(_Strict):
    id: str
    display_name: str | None = None


class _Routing(_Strict):
    default: str | None = None
    rules: list[_RuleEntry] = Field(default_factory=list)
    models: list[_ModelListing] = Field(default_factory=list)
    keepalive_seconds: float = Field(default=10.0, ge=0)
    stream_idle_timeout_seconds: float = Field(default=300.0, ge=0)
    prompt_cache_affinity: bool = True
    affinity_ttl_seconds: float = Field(default=3600.0, gt=0)


class _Document(_Strict):
    model_list: list[_ModelEntry] = Field(default_factory=list)
    router_settings: _RouterSettings = Field(default_factory=_RouterSettings)
    routing: _Routing = Field(default_factory=_Routing)


ROUTING_SECTIONS = ("model_list", "router_settings", "routing")


# -- reading -------------------------------------------------------------------------------------------------------
def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _is_tag(part: int | str) -> bool:
    """pydantic's union-member and validator tags in an error location (not keys of the document)."""
    return isinstance(part, str) and (
        "[" in part or part.startswith(("function-", "_")) or part in ("str", "int", "float", "bool")
    )


def _config_error(exc: ValidationError) -> ConfigError:
    errors = exc.errors(include_url=False)
    error = max(errors, key=lambda e: (e["type"] == "unknown_key", len(e["loc"])))  # the most specific one
    loc = tuple(p for p in error["loc"] if not _is_tag(p))
    if error["type"] == "unknown_key":
        ctx = error.get("ctx") or {}
        return ConfigError(f"{_path((*loc, ctx.get('key', '?')))}: unknown key (known: {ctx.get('known', '')})")
    message = "required" if error["type"] == "missing" else error["msg"]
    return ConfigError(f"{_path(loc) or '<root>'}: {message}")


def _thaw(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_thaw(v) for v in value]
    return value


def _resolve_env(reader: ValueParser, doc: dict[str, Any]) -> None:
    """``os.environ/NAME`` in ``litellm_params`` values and ``router_settings.redis_url``."""
    for i, entry in enumerate(doc.get("model_list") or []):
        params = entry.get("litellm_params") if isinstance(entry, dict) else None
        if isinstance(params, dict):
            for key, value in params.items():
                params[key] = reader.env(value, f"model_list[{i}].litellm_params.{key}")
    settings = doc.get("router_settings")
    if isinstance(settings, dict) and "redis_url" in settings:
        settings["redis_url"] = reader.env(settings["redis_url"], "router_settings.redis_url")


def _kind_of(model: str) -> Kind:
    prefix = model.split("/", 1)[0] if "/" in model else ""
    if prefix in ANTHROPIC_WIRE:
        return prefix
    return "litellm"


def litellm_providers() -> frozenset[str]:
    """litellm's provider prefixes (imports litellm: only called when a translated deployment is configured)."""
    from gateway.upstream.translated import provider_names

    return provider_names()


def _deployment(entry: _ModelEntry, index: int, timeout: float, counts: dict[str, int]) -> Deployment:
    path = f"model_list[{index}]"
    params = entry.litellm_params
    model = params.model
    kind = _kind_of(model)
    upstream = model.split("/", 1)[1] if kind != "litellm" else model
    if kind == "anthropic" and not upstream:
        upstream = "*"
    base = params.api_base if params.api_base is not None else DEFAULT_BASES.get(kind, "")
    if kind != "litellm" and not base.startswith(("http://", "https://")):
        raise ConfigError(f"{path}.litellm_params.api_base: must be an http(s) URL")
    info = entry.model_info or _ModelInfo()
    if info.effort_table is not None and kind != "mimo_auto":
        raise ConfigError(f"{path}.model_info.effort_table: only for mimo_auto/ deployments")
    table = dict(DEFAULT_MIMO_AUTO)
    for effort, row in (info.effort_table or {}).items():
        if effort not in (*EFFORTS, "none"):
            where = f"{path}.model_info.effort_table.{effort}"
            raise ConfigError(f"{where}: unknown effort (use none, {', '.join(EFFORTS)})")
        table[effort] = (row.model, row.thinking)
    group = entry.model_name
    counts[group] = counts.get(group, 0) + 1
    weight = params.weight if params.weight is not None else float(params.rpm or params.tpm or 1)
    return Deployment(
        id=f"{group}/{counts[group]}",
        group=group,
        kind=kind,
        model=upstream,
        litellm_model=model,
        api_base=base.rstrip("/"),
        api_key=params.api_key,
        timeout=params.timeout if params.timeout is not None else timeout,
        mimo_auto=table if kind == "mimo_auto" else {},
        litellm_params=params.model_dump(exclude_none=True, exclude={"api_key"}),
        rpm=params.rpm,
        tpm=params.tpm,
        weight=weight,
        tokenizer=info.tokenizer,
    )


def _choices(value: Any, path: str, allowed: tuple[str, ...]) -> frozenset[str] | None:
    if value is None or value == "*":
        return None
    items = list(value) if isinstance(value, list | tuple) else [value]
    for item in items:
        if item not in allowed:
            raise ConfigError(f"{path}: {item!r} is not one of {', '.join(allowed)} or *")
    return frozenset(items)


def _check_providers(deployments: list[Deployment], providers: Callable[[], frozenset[str]]) -> None:
    translated = [(i, d) for i, d in enumerate(deployments) if d.kind == "litellm"]
    if not translated:
        return
    try:
        known = providers()
    except MissingExtra as exc:
        index, dep = translated[0]
        raise ConfigError(f"model_list[{index}].litellm_params.model ({dep.litellm_model!r}): {exc}") from None
    for index, dep in translated:
        prefix = dep.litellm_model.split("/", 1)[0] if "/" in dep.litellm_model else ""
        custom = dep.litellm_params.get("custom_llm_provider")
        if (custom or prefix) not in known:
            shown = ", ".join(("anthropic", "deepseek", "mimo", "mimo_auto", "openai", "gemini", "bedrock", "…"))
            raise ConfigError(
                f"model_list[{index}].litellm_params.model: unknown provider prefix {prefix!r} in "
                f"{dep.litellm_model!r} (a litellm provider, e.g. {shown})"
            )


def parse_routing(
    raw: Mapping[str, Any],
    environ: Mapping[str, str] | None = None,
    *,
    providers: Callable[[], frozenset[str]] = litellm_providers,
) -> RoutingConfig:
    """Read ``model_list``, ``router_settings`` and ``routing`` from the config document.

    Errors raise ConfigError naming the field path."""
    reader = ValueParser(os.environ if environ is None else environ, Path.cwd())
    doc = {key: _thaw(raw[key]) for key in ROUTING_SECTIONS if raw.get(key) is not None}
    _resolve_env(reader, doc)
    try:
        parsed = _Document.model_validate(doc)
    except ValidationError as exc:
        raise _config_error(exc) from None
    settings, routing = parsed.router_settings, parsed.routing
    counts: dict[str, int] = {}
    deployments = [_deployment(e, i, settings.timeout, counts) for i, e in enumerate(parsed.model_list)]
    _check_providers(deployments, providers)
    groups: dict[str, tuple[Deployment, ...]] = {}
    for dep in deployments:
        groups[dep.group] = (*groups.get(dep.group, ()), dep)
    fallbacks: dict[str, tuple[str, ...]] = {}
    for i, entry in enumerate(settings.fallbacks):
        for primary, backups in entry.items():
            names = [backups] if isinstance(backups, str) else list(backups)
            for name in (primary, *names):
                if name not in groups:
                    raise ConfigError(f"router_settings.fallbacks[{i}]: {name!r} is not a model_name in model_list")
            fallbacks[primary] = tuple(names)
    aliases: dict[str, str] = {}
    hidden: set[str] = set()
    for alias, target in settings.model_group_alias.items():
        group = target if isinstance(target, str) else target.model
        if group not in groups:
            raise ConfigError(f"router_settings.model_group_alias.{alias}: {group!r} is not a model_name in model_list")
        aliases[alias] = group
        if not isinstance(target, str) and target.hidden:
            hidden.add(alias)
    rules = []
    for i, rule in enumerate(routing.rules):
        path = f"routing.rules[{i}]"
        if rule.group not in groups:
            raise ConfigError(f"{path}.group: {rule.group!r} is not a model_name in model_list")
        rules.append(
            Rule(
                tiers=_choices(rule.tier, f"{path}.tier", TIERS),
                efforts=_choices(rule.effort, f"{path}.effort", (*EFFORTS, "none")),
                models=(rule.model,) if isinstance(rule.model, str) else tuple(rule.model),
                group=rule.group,
            )
        )
    default = routing.default
    if default is None and len(groups) == 1:
        default = next(iter(groups))
    if default is not None and default not in groups:
        raise ConfigError(f"routing.default: {default!r} is not a model_name in model_list")
    config = RoutingConfig(
        groups=groups,
        rules=tuple(rules),
        default_group=default,
        fallbacks=fallbacks,
        cooldown_seconds=settings.cooldown_time,
        allowed_fails=settings.allowed_fails,
        keepalive_seconds=routing.keepalive_seconds,
        stream_idle_timeout_seconds=routing.stream_idle_timeout_seconds,
        models=tuple((m.id, m.display_name or m.id) for m in routing.models),
        redis_url=settings.redis_url,
        aliases=aliases,
        hidden_aliases=frozenset(hidden),
        strategy=settings.routing_strategy,
        num_retries=settings.num_retries,
        prompt_cache_affinity=routing.prompt_cache_affinity,
        affinity_ttl_seconds=routing.affinity_ttl_seconds,
    )
    for i, (model_id, _name) in enumerate(config.models):
        if config.group_for(model_id, tier_of(model_id), None) is None:
            raise ConfigError(f"routing.models[{i}].id: {model_id!r} does not route (no group, alias, rule or default)")
    return config
