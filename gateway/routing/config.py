"""The routing configuration, in LiteLLM's config.yaml conventions plus a ``routing:`` section.

```yaml
model_list:                                  # deployments; model_name is the model group
  - model_name: claude                       # `anthropic/*` forwards the client's own model id
    litellm_params: {model: anthropic/*, api_key: os.environ/ANTHROPIC_API_KEY}
  - model_name: deepseek
    litellm_params: {model: deepseek/deepseek-v4-pro, api_key: os.environ/DEEPSEEK_API_KEY}
  - model_name: mimo-auto                    # MimoAuto: the MiMo model and thinking switch follow the effort
    litellm_params: {model: mimo_auto/, api_key: os.environ/MIMO_API_KEY}
router_settings: {fallbacks: [{claude: [deepseek]}], cooldown_time: 30, allowed_fails: 1, timeout: 600}
routing:
  default: claude
  keepalive_seconds: 10                      # SSE comment during upstream silence
  stream_idle_timeout_seconds: 300           # then an SSE error event, and the stream ends
  rules:                                     # first match wins
    - {tier: haiku, group: deepseek}
    - {tier: opus, effort: [xhigh, max], group: claude}
    - {model: "claude-fable*", group: mimo-auto}
  models: [{id: claude-opus-5-5, display_name: Claude Opus 5.5}]   # what /v1/models lists
```
Backend kinds by provider prefix: ``anthropic/`` (api.anthropic.com), ``deepseek/`` (DeepSeek's Anthropic endpoint),
``mimo/`` (MiMo's Anthropic endpoint), ``mimo_auto/`` (virtual), anything else → litellm (translated).
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from gateway.routing.model_ids import EFFORTS, TIERS
from gateway.settings import ConfigError, ValueParser

Kind = Literal["anthropic", "deepseek", "mimo", "mimo_auto", "litellm"]
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
    models: tuple[tuple[str, str], ...]
    redis_url: str | None = None

    @property
    def needs_litellm(self) -> bool:
        return any(d.kind == "litellm" for group in self.groups.values() for d in group)


class _Reader(ValueParser):
    """The shared config value readers (``os.environ/NAME``, mappings, lists, numbers) plus secrets."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        super().__init__(environ, Path.cwd())

    def secret(self, value: Any, path: str) -> str | None:
        return self.optional_string(value, path)


def _kind_of(model: str) -> Kind:
    prefix = model.split("/", 1)[0] if "/" in model else ""
    if prefix in ("anthropic", "deepseek", "mimo", "mimo_auto"):
        return prefix  # type: ignore[return-value]
    return "litellm"


def _mimo_table(reader: _Reader, value: Any, path: str) -> dict[str, tuple[str, bool]]:
    table = dict(DEFAULT_MIMO_AUTO)
    for effort, entry in reader.mapping(value, path).items():
        where = f"{path}.{effort}"
        if effort not in (*EFFORTS, "none"):
            raise ConfigError(f"{where}: unknown effort (use none, {', '.join(EFFORTS)})")
        entry = reader.mapping(entry, where)
        if not isinstance(entry.get("model"), str):
            raise ConfigError(f"{where}.model: must be a string")
        table[effort] = (entry["model"], bool(entry.get("thinking", True)))
    return table


def _deployment(entry: Any, index: int, reader: _Reader, timeout: float, counts: dict[str, int]) -> Deployment:
    path = f"model_list[{index}]"
    entry = reader.mapping(entry, path)
    group = entry.get("model_name")
    if not isinstance(group, str) or not group:
        raise ConfigError(f"{path}.model_name: required, a non-empty string")
    params = reader.mapping(entry.get("litellm_params"), f"{path}.litellm_params")
    model = params.get("model")
    if not isinstance(model, str) or not model:
        raise ConfigError(f"{path}.litellm_params.model: required, e.g. anthropic/claude-opus-5-5")
    kind = _kind_of(model)
    upstream = model.split("/", 1)[1] if kind != "litellm" else model
    if kind == "anthropic" and not upstream:
        upstream = "*"
    base = params.get("api_base", DEFAULT_BASES.get(kind, ""))
    if kind != "litellm" and (not isinstance(base, str) or not base.startswith(("http://", "https://"))):
        raise ConfigError(f"{path}.litellm_params.api_base: must be an http(s) URL")
    info = reader.mapping(entry.get("model_info"), f"{path}.model_info")
    counts[group] = counts.get(group, 0) + 1
    return Deployment(
        id=f"{group}/{counts[group]}",
        group=group,
        kind=kind,
        model=upstream,
        litellm_model=model,
        api_base=str(base).rstrip("/"),
        api_key=reader.secret(params.get("api_key"), f"{path}.litellm_params.api_key"),
        timeout=reader.number(params.get("timeout"), f"{path}.litellm_params.timeout", timeout),
        mimo_auto=_mimo_table(reader, info.get("effort_table"), f"{path}.model_info.effort_table")
        if kind == "mimo_auto"
        else {},
        litellm_params={k: v for k, v in params.items() if k not in ("api_key",)},
    )


def _choices(value: Any, path: str, allowed: tuple[str, ...]) -> frozenset[str] | None:
    if value is None or value == "*":
        return None
    items = list(value) if isinstance(value, list | tuple) else [value]
    for item in items:
        if item not in allowed:
            raise ConfigError(f"{path}: {item!r} is not one of {', '.join(allowed)} or *")
    return frozenset(items)


def _rule(reader: _Reader, entry: Any, index: int, groups: Mapping[str, Any]) -> Rule:
    path = f"routing.rules[{index}]"
    entry = reader.mapping(entry, path, known=("tier", "effort", "model", "group"))
    group = entry.get("group")
    if group not in groups:
        raise ConfigError(f"{path}.group: {group!r} is not a model_name in model_list")
    models = entry.get("model", [])
    models = [models] if isinstance(models, str) else list(models) if isinstance(models, tuple) else models
    if not isinstance(models, list) or not all(isinstance(m, str) for m in models):
        raise ConfigError(f"{path}.model: must be a glob pattern or a list of them")
    return Rule(
        tiers=_choices(entry.get("tier"), f"{path}.tier", TIERS),
        efforts=_choices(entry.get("effort"), f"{path}.effort", (*EFFORTS, "none")),
        models=tuple(models),
        group=str(group),
    )


def parse_routing(raw: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> RoutingConfig:
    """Read ``model_list``, ``router_settings`` and ``routing`` from the config document.

    Errors raise ConfigError naming the field path."""
    reader = _Reader(os.environ if environ is None else environ)
    settings = reader.mapping(raw.get("router_settings"), "router_settings")
    routing = reader.mapping(raw.get("routing"), "routing")
    timeout = reader.number(settings.get("timeout"), "router_settings.timeout", 600.0)
    counts: dict[str, int] = {}
    deployments = [
        _deployment(e, i, reader, timeout, counts)
        for i, e in enumerate(reader.listing(raw.get("model_list"), "model_list"))
    ]
    groups: dict[str, tuple[Deployment, ...]] = {}
    for dep in deployments:
        groups[dep.group] = (*groups.get(dep.group, ()), dep)
    fallbacks: dict[str, tuple[str, ...]] = {}
    for i, entry in enumerate(reader.listing(settings.get("fallbacks"), "router_settings.fallbacks")):
        for primary, backups in reader.mapping(entry, f"router_settings.fallbacks[{i}]").items():
            backups = list(backups) if isinstance(backups, list | tuple) else [backups]
            for name in (primary, *backups):
                if name not in groups:
                    raise ConfigError(f"router_settings.fallbacks[{i}]: {name!r} is not a model_name in model_list")
            fallbacks[primary] = tuple(backups)
    rules = tuple(
        _rule(reader, e, i, groups) for i, e in enumerate(reader.listing(routing.get("rules"), "routing.rules"))
    )
    default = routing.get("default")
    if default is None and len(groups) == 1:
        default = next(iter(groups))
    if default is not None and default not in groups:
        raise ConfigError(f"routing.default: {default!r} is not a model_name in model_list")
    models = []
    for i, entry in enumerate(reader.listing(routing.get("models"), "routing.models")):
        entry = reader.mapping(entry, f"routing.models[{i}]")
        if not isinstance(entry.get("id"), str):
            raise ConfigError(f"routing.models[{i}].id: required, a string")
        models.append((entry["id"], str(entry.get("display_name", entry["id"]))))
    redis_host = settings.get("redis_url")
    return RoutingConfig(
        groups=groups,
        rules=rules,
        default_group=default,
        fallbacks=fallbacks,
        cooldown_seconds=reader.number(settings.get("cooldown_time"), "router_settings.cooldown_time", 30.0),
        allowed_fails=int(reader.number(settings.get("allowed_fails"), "router_settings.allowed_fails", 1)),
        keepalive_seconds=reader.number(routing.get("keepalive_seconds"), "routing.keepalive_seconds", 10.0),
        stream_idle_timeout_seconds=reader.number(
            routing.get("stream_idle_timeout_seconds"), "routing.stream_idle_timeout_seconds", 300.0
        ),
        models=tuple(models) or DEFAULT_MODELS,
        redis_url=reader.secret(redis_host, "router_settings.redis_url"),
    )
