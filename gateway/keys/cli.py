"""``litellm-gateway keys …``: manage virtual keys and read spend on the configured database, no gateway needed.

Running gateways see a change within five seconds (their key cache). Answers are the admin API's JSON; ``generate``
prints the key once, as the last line of stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from gateway.errors import GatewayError

WithStore = Callable[[argparse.Namespace, Callable[[Any], Awaitable[Any]]], Any]
EXIT_FAILED = 1
CONFIG_HELP = "YAML config (default: the embedded default_config.yaml)"


def _settings_arguments(parser: argparse.ArgumentParser, *, update: bool = False) -> None:
    parser.add_argument("--alias", dest="key_alias", help="the key's name (logs, spend rows)")
    parser.add_argument("--workspace", help="workspace (default: default)")
    parser.add_argument("--model", dest="models", action="append", help="an allowed model id or group (repeatable)")
    parser.add_argument("--max-budget", type=float, help="USD per budget window (or for the key's lifetime)")
    parser.add_argument("--budget-duration", help="budget window: 30s, 10m, 24h, 30d, 1w, 1mo")
    parser.add_argument("--rpm", dest="rpm_limit", type=int, help="requests per minute")
    parser.add_argument("--tpm", dest="tpm_limit", type=int, help="tokens per minute")
    parser.add_argument("--duration", help="expiry from now: 30d, 12h, ...")
    parser.add_argument("--metadata", type=json.loads, help="a JSON object")
    if update:
        parser.add_argument("--block", dest="blocked", action="store_const", const=True, help="block the key")
        parser.add_argument("--unblock", dest="blocked", action="store_const", const=False, help="unblock the key")
    parser.add_argument("--config", metavar="FILE", help=CONFIG_HELP)


def add_parser(sub: Any) -> None:
    keys = sub.add_parser("keys", help="virtual keys and spend (on the configured database)")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    _settings_arguments(keys_sub.add_parser("generate", help="create a key; it is printed once, last line"))
    update = keys_sub.add_parser("update", help="change a key's settings")
    update.add_argument("key", metavar="KEY", help="key id (key_…) or the key")
    _settings_arguments(update, update=True)
    for name, text in (("info", "a key's settings and spend"), ("delete", "delete a key")):
        parser = keys_sub.add_parser(name, help=text)
        parser.add_argument("key", metavar="KEY", help="key id (key_…) or the key")
        parser.add_argument("--config", metavar="FILE", help=CONFIG_HELP)
    listing = keys_sub.add_parser("list", help="list keys (never the keys themselves)")
    listing.add_argument("--workspace")
    listing.add_argument("--page", type=int, default=1)
    listing.add_argument("--size", type=int, default=100)
    listing.add_argument("--config", metavar="FILE", help=CONFIG_HELP)
    spend = keys_sub.add_parser("spend", help="spend totals per key, workspace or model")
    spend.add_argument("--group-by", choices=["key", "workspace", "model"], default="key")
    spend.add_argument("--key", dest="api_key", help="only this key (id, config:<name>, or the key)")
    spend.add_argument("--workspace")
    spend.add_argument("--start-date", help="YYYY-MM-DD or RFC 3339 (inclusive)")
    spend.add_argument("--end-date", help="YYYY-MM-DD (whole day included) or RFC 3339")
    spend.add_argument("--config", metavar="FILE", help=CONFIG_HELP)


def _body(args: argparse.Namespace) -> dict[str, Any]:
    names = ("key_alias", "workspace", "models", "max_budget", "budget_duration", "rpm_limit", "tpm_limit")
    body = {name: getattr(args, name) for name in (*names, "duration", "metadata") if getattr(args, name) is not None}
    if getattr(args, "blocked", None) is not None:
        body["blocked"] = args.blocked
    return body


async def _run(args: argparse.Namespace, store: Any) -> Any:
    from gateway.keys import admin
    from gateway.keys.counters import MemoryCounters
    from gateway.keys.pricing import Pricing
    from gateway.keys.service import KeysService
    from gateway.keys.store import KeyStore

    keys = KeysService(KeyStore(store.engine), MemoryCounters(), Pricing({}), shared=False)
    command = args.keys_command
    if command == "generate":
        return await admin.generate(keys, _body(args))
    if command == "update":
        return await admin.update(keys, {**_body(args), "key": args.key})
    if command == "info":
        return await admin.info(keys, args.key)
    if command == "delete":
        return await admin.delete(keys, [args.key])
    if command == "list":
        return await admin.listing(keys, args.page, args.size, args.workspace, True)
    where = await admin.spend_filter(keys, args.api_key, args.workspace, None, args.start_date, args.end_date)
    return await admin.totals(keys, where, args.group_by)


def command(args: argparse.Namespace, with_store: WithStore, prog: str) -> int:
    try:
        answer = with_store(args, lambda store: _run(args, store))
    except GatewayError as exc:
        print(f"{prog}: {exc.message}", file=sys.stderr)
        return EXIT_FAILED
    if args.keys_command == "generate":
        secret = answer.pop("key")
        print(json.dumps(answer, indent=2))
        print("the key is shown only now: the gateway keeps its SHA-256 only.")
        print(secret)
        return 0
    print(json.dumps(answer, indent=2))
    return 0
