"""``litellm-gateway routes list`` and ``routes explain``: the native routing table and one request's decision, read
from the same code the gateway routes with (:mod:`gateway.routing`, :mod:`gateway.upstream.hygiene`); nothing is
sent upstream and no secret is printed."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from gateway.routing.config import Deployment, RoutingConfig, Rule
from gateway.settings import ConfigError

EFFORT_CHOICES = ["none", "low", "medium", "high", "xhigh", "max"]


def add_parsers(routes_sub: Any, config_help: str) -> None:
    """The ``routes`` subcommands (``routes_sub`` is the ``routes`` parser's subparsers)."""
    listing = routes_sub.add_parser("list", help="print the whole routing table (groups, rules, default, models)")
    listing.add_argument("--config", metavar="FILE", help=config_help)
    explain = routes_sub.add_parser("explain", help="print where a request would go, without sending anything")
    explain.add_argument("--config", metavar="FILE", help=config_help)
    explain.add_argument("--model", help="the client's model id, e.g. claude-opus-5-5 (default: the body's model)")
    explain.add_argument(
        "--effort",
        choices=EFFORT_CHOICES,
        help="output_config.effort; 'none' means no effort (thinking disabled, output_config.effort removed)",
    )
    explain.add_argument("--thinking", help="thinking type (adaptive, disabled) or enabled:<budget_tokens>")
    explain.add_argument("--body", metavar="FILE", help="a Messages request body (JSON) to route, as a client sends it")


def deployment_line(dep: Deployment, effort: str | None) -> str:
    upstream = "the client's model id" if dep.model == "*" else dep.model
    if dep.kind == "mimo_auto":
        model, thinking = dep.mimo_auto.get(effort or "none", dep.mimo_auto["none"])
        upstream = f"{model} (thinking {'on' if thinking else 'off'}, from the effort table)"
    key = "configured key" if dep.api_key else ("client's own credential" if dep.kind == "anthropic" else "no key")
    return f"{dep.id} [{dep.kind}] {dep.api_base or dep.litellm_model} model={upstream} ({key})"


def rule_text(rule: Rule) -> str:
    parts = []
    if rule.tiers is not None:
        parts.append(f"tier {'|'.join(sorted(rule.tiers))}")
    if rule.efforts is not None:
        parts.append(f"effort {'|'.join(sorted(rule.efforts))}")
    if rule.models:
        parts.append(f"model {'|'.join(rule.models)}")
    return f"{', '.join(parts) or 'any request'} -> {rule.group}"


def why(config: RoutingConfig, model: str, tier: str | None, effort: str | None) -> str:
    """Which step of the selection order chose the group (mirrors RoutingConfig.group_for)."""
    if model in config.groups:
        return f"model_list: the model id names the group {model}"
    if model in config.aliases:
        return f"router_settings.model_group_alias: {model} -> {config.aliases[model]}"
    for index, rule in enumerate(config.rules, 1):
        if rule.matches(model, tier, effort):
            return f"routing.rules[{index - 1}] (rule {index}): {rule_text(rule)}"
    return f"default (routing.default: {config.default_group}; no rule matched)"


def _load_routing(args: argparse.Namespace) -> RoutingConfig:
    from gateway.cli import _load
    from gateway.routing.config import parse_routing

    return parse_routing(_load(args).raw)


def routes_list(args: argparse.Namespace) -> int:
    from gateway.cli import _fail
    from gateway.routing.router import catalogue

    try:
        config = _load_routing(args)
    except ConfigError as exc:
        return _fail(f"config error: {exc}")
    print("groups (model_list):")
    for name, deployments in config.groups.items():
        fallbacks = config.fallbacks.get(name, ())
        print(f"  {name}" + (f"  (fallbacks: {', '.join(fallbacks)})" if fallbacks else ""))
        for dep in deployments:
            print(f"    {deployment_line(dep, None)}")
    if config.aliases:
        print("aliases (router_settings.model_group_alias):")
        for alias, group in config.aliases.items():
            print(f"  {alias} -> {group}" + (" (hidden)" if alias in config.hidden_aliases else ""))
    print("rules (routing.rules, first match wins):")
    for index, rule in enumerate(config.rules, 1):
        print(f"  {index}. {rule_text(rule)}")
    if not config.rules:
        print("  (none)")
    print(f"default: {config.default_group or '(none: unmatched requests answer 404)'}")
    print(f"strategy: {config.strategy}; num_retries {config.num_retries}; at most {config.max_attempts} attempt(s)")
    print("models listed by /v1/models:")
    for model_id, display in catalogue(config):
        print(f"  {model_id}  {display}")
    return 0


def _request_body(args: argparse.Namespace) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if args.body:
        try:
            loaded = json.loads(Path(args.body).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"--body {args.body}: not a readable JSON file ({type(exc).__name__})") from exc
        if not isinstance(loaded, dict):
            raise ConfigError(f"--body {args.body}: must be a JSON object (a Messages request body)")
        body = loaded
    if args.model:
        body["model"] = args.model
    if not body.get("model"):
        raise ConfigError("give --model or a --body with a model")
    if args.effort == "none":
        body.pop("output_config", None)
        body["thinking"] = {"type": "disabled"}
    elif args.effort:
        body["output_config"] = {**(body.get("output_config") or {}), "effort": args.effort}
    if args.thinking:
        kind, _sep, budget = args.thinking.partition(":")
        body["thinking"] = {"type": kind, **({"budget_tokens": int(budget)} if budget else {})}
    return body


def _changes(before: Any, after: Any, path: str = "") -> list[str]:
    """What differs between the client's body and the body sent upstream, as short field-level lines."""
    if isinstance(before, dict) and isinstance(after, dict):
        out: list[str] = []
        for key in before:
            where = f"{path}.{key}" if path else str(key)
            if key not in after:
                out.append(f"{where} removed")
            elif before[key] != after[key]:
                out.extend(_changes(before[key], after[key], where))
        out.extend(f"{path}.{key} added" if path else f"{key} added" for key in after if key not in before)
        return out
    if isinstance(before, list) and isinstance(after, list):
        return [f"{path} changed ({len(before)} -> {len(after)} entries or their content)"]
    return [f"{path}: {json.dumps(before)} -> {json.dumps(after)}"]


def hygiene_lines(body: dict[str, Any], dep: Deployment, effort: str | None) -> list[str]:
    from gateway.upstream import hygiene

    if dep.kind == "litellm":
        sent: dict[str, Any] | None = hygiene.prepare_translated(body)
    else:
        sent = hygiene.prepare(body, dep, effort)
    lines = ["body forwarded byte for byte"] if sent is None else (_changes(body, sent) or ["body unchanged"])
    if dep.kind == "litellm":
        lines.append("translated by litellm to the provider's own format")
    if dep.kind not in ("anthropic", "litellm"):
        lines.append("anthropic-beta header dropped")
    return lines


def routes_explain(args: argparse.Namespace) -> int:
    from gateway.cli import _fail
    from gateway.errors import NotFound
    from gateway.routing.router import Router

    try:
        config = _load_routing(args)
    except ConfigError as exc:
        return _fail(f"config error: {exc}")
    try:
        body = _request_body(args)
    except ConfigError as exc:
        return _fail(str(exc))
    router = Router(config)
    try:
        decision = router.decide(body)
    except NotFound as exc:
        print(f"no route: {exc.message}")
        return 1
    print(f"model {decision.model}: tier {decision.tier or '- (unknown family)'}, effort {decision.effort or 'none'}")
    print(f"matched: {why(config, decision.model, decision.tier, decision.effort)}")
    print(f"group {decision.group}; deployments in order (first healthy answers, the rest are failover):")
    for index, dep in enumerate(decision.candidates, 1):
        print(f"  {index}. {deployment_line(dep, decision.effort)}")
        for line in hygiene_lines(body, dep, decision.effort):
            print(f"       hygiene: {line}")
    return 0
