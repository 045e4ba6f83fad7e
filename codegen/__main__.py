"""python -m codegen {import,map,check,links,scaffold,drift,sdk-rows}"""

from __future__ import annotations

import argparse
import sys

from codegen import handlers, implementation_map, links
from codegen.catalogue import Row, parse, render_table
from codegen.spec import CATALOGUE, ROOT, SPEC, dump_yaml, import_catalogue, load_yaml

README = ROOT / "README.md"


def _import(_args: argparse.Namespace) -> int:
    added, _text = import_catalogue(write=True)
    print(f"added {len(added)} operation(s) to {SPEC.relative_to(SPEC.parents[1])}")
    for key in added:
        print(f"  + {key}")
    return 0


def _map(args: argparse.Namespace) -> int:
    spec = load_yaml(SPEC)
    if args.readme:
        README.write_text(
            implementation_map.readme_with_map(README.read_text(encoding="utf-8"), spec), encoding="utf-8"
        )
        print(f"updated the map in {README.name}")
        return 0
    print(implementation_map.summary_table(spec))
    if not args.summary:
        print(implementation_map.operations_table(spec))
    return 0


def _check(_args: argparse.Namespace) -> int:
    problems = handlers.check(load_yaml(SPEC), parse(CATALOGUE))
    for problem in problems:
        print(problem)
    print(f"{len(problems)} problem(s)")
    return 1 if problems else 0


def _links(_args: argparse.Namespace) -> int:
    spec = load_yaml(SPEC)
    total = links.apply(spec)
    SPEC.write_text(dump_yaml(spec), encoding="utf-8")
    print(f"wrote {total} link(s) from create operations into {SPEC.name}")
    return 0


def _scaffold(_args: argparse.Namespace) -> int:
    for oid in handlers.scaffold(load_yaml(SPEC)):
        print(f"  + {oid}")
    return 0


def _drift(_args: argparse.Namespace) -> int:
    """Fail when the committed spec or the README's map differ from what codegen produces now."""
    failures = []
    added, _text = import_catalogue(write=False)
    if added:
        failures.append(f"spec is missing catalogue operations: {added}")
    if links.stale(load_yaml(SPEC)):
        failures.append("spec links are stale: run python -m codegen links")
    readme = README.read_text(encoding="utf-8")
    if implementation_map.readme_with_map(readme, load_yaml(SPEC)) != readme:
        failures.append("README.md implementation map is stale: run python -m codegen map --readme")
    for failure in failures:
        print(failure)
    return 1 if failures else 0


def _sdk_rows(_args: argparse.Namespace) -> int:
    """Print catalogue rows for SDK endpoints the catalogue does not list yet (when the SDK grows)."""
    from codegen.sdk import scan
    from codegen.sdk_spec import CATEGORIES

    known = {r.key for r in parse(CATALOGUE)} if CATALOGUE.exists() else set()
    rows = []
    for ep in scan():
        row = Row(
            CATEGORIES[ep.resource][0],
            ep.method,
            ep.path,
            ep.operation_id,
            ep.status,
            "anthropic SDK: "
            + ", ".join(sorted({f"{'beta.' if v.beta else ''}{v.cls}.{v.method}" for v in ep.variants})),
        )
        if row.key not in known:
            rows.append(row)
    print(render_table(rows), end="")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m codegen", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("import", help="add catalogue operations missing from spec/openapi.yaml").set_defaults(fn=_import)
    p_map = sub.add_parser("map", help="print the implementation map")
    p_map.add_argument("--summary", action="store_true", help="only the per-group table")
    p_map.add_argument("--readme", action="store_true", help="rewrite the map section of README.md")
    p_map.set_defaults(fn=_map)
    sub.add_parser("check", help="spec <-> handlers <-> catalogue consistency").set_defaults(fn=_check)
    sub.add_parser("links", help="write OpenAPI links from create operations").set_defaults(fn=_links)
    sub.add_parser("scaffold", help="add planned (501) handlers for operations without one").set_defaults(fn=_scaffold)
    sub.add_parser("drift", help="fail if spec or client stubs are stale").set_defaults(fn=_drift)
    sub.add_parser("sdk-rows", help="catalogue rows for SDK endpoints not catalogued yet").set_defaults(fn=_sdk_rows)
    args = parser.parse_args(argv)
    return int(args.fn(args))


if __name__ == "__main__":
    sys.exit(main())
