"""Spec ↔ handlers: check that every operation resolves to its handler, and scaffold planned (501) handlers.

operationId ``<status>.<resource>.<verb>`` resolves to ``handlers/<status>/<resource>.py:<verb>``. A planned operation
(``x-planned: true``) has the handler ``<verb> = planned("<operationId>")``; an implemented one a real function.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

from codegen.catalogue import Row
from codegen.spec import ROOT, operations

HANDLERS = ROOT / "handlers"
OPERATION_ID = re.compile(r"^(native|custom|proxy|stub)\.([a-z_][a-z0-9_]*)\.([a-z_][a-z0-9_]*)$")
HEADER = (
    '"""Handlers for `{status}.{resource}.*` operations (see spec/openapi.yaml)."""\n\n'
    "from gateway.planned import planned\n"
)


def _defined(file: Path) -> dict[str, str | None]:
    """Top-level public names of a handler module -> the operationId of a ``planned(...)`` stub, or None."""
    out: dict[str, str | None] = {}
    if not file.exists():
        return out
    for node in ast.parse(file.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.AsyncFunctionDef | ast.FunctionDef) and not node.name.startswith("_"):
            out[node.name] = None
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            value = node.value
            if isinstance(value, ast.Call) and getattr(value.func, "id", "") == "planned" and value.args:
                arg = value.args[0]
                out[node.targets[0].id] = str(arg.value) if isinstance(arg, ast.Constant) else "?"
    return out


def check(spec: dict[str, Any], rows: list[Row]) -> list[str]:
    problems: list[str] = []
    ops = operations(spec)
    seen: dict[tuple[str, str], set[str]] = defaultdict(set)
    ids: dict[str, str] = {}
    for key, (_method, _path, op) in ops.items():
        oid = str(op.get("operationId", ""))
        match = OPERATION_ID.match(oid)
        if not match:
            problems.append(f"{key}: operationId {oid!r} is not <status>.<resource>.<verb>")
            continue
        if oid in ids:
            problems.append(f"{key}: operationId {oid} also used by {ids[oid]}")
        ids[oid] = key
        status, resource, verb = match.groups()
        if op.get("x-implementation") != status:
            problems.append(f"{key}: operationId prefix {status} != x-implementation {op.get('x-implementation')}")
        if not op.get("tags") or len(op["tags"]) != 1:
            problems.append(f"{key}: needs exactly one tag (its seed category)")
        for code, response in op.get("responses", {}).items():
            if str(code).startswith("2") and "$ref" not in response:
                for media, body in (response.get("content") or {}).items():
                    if media != "text/event-stream" and "example" not in body:
                        problems.append(f"{key}: {code} {media} has no example")
        seen[(status, resource)].add(verb)
        defined = _defined(HANDLERS / status / f"{resource}.py")
        if verb not in defined:
            problems.append(f"{key}: handler handlers/{status}/{resource}.py:{verb} is missing")
        elif op.get("x-planned") and defined[verb] != oid:
            problems.append(f"{key}: planned, but handlers/{status}/{resource}.py:{verb} is not planned({oid!r})")
        elif not op.get("x-planned") and defined[verb] is not None:
            problems.append(f"{key}: marked implemented, but its handler is still planned(...)")
    for file in sorted(HANDLERS.glob("*/*.py")):
        if file.name == "__init__.py":
            continue
        status, resource = file.parent.name, file.stem
        for name in _defined(file):
            if name not in seen.get((status, resource), set()):
                problems.append(f"handlers/{status}/{resource}.py:{name} has no operation in the spec")
    catalogued = {r.key: r for r in rows}
    for key, (_m, _p, op) in ops.items():
        row = catalogued.get(key)
        if row is None:
            problems.append(f"{key}: in the spec but not in the catalogue")
        elif row.operation_id != op.get("operationId"):
            problems.append(f"{key}: catalogue says {row.operation_id}, spec says {op.get('operationId')}")
    for key in catalogued.keys() - ops.keys():
        problems.append(f"{key}: in the catalogue but not in the spec (run python -m codegen import)")
    return problems


def scaffold(spec: dict[str, Any]) -> list[str]:
    """Append ``verb = planned("id")`` for every operation whose handler is missing; returns what was added."""
    added: list[str] = []
    by_file: dict[Path, list[tuple[str, str]]] = defaultdict(list)
    for _key, (_m, _p, op) in sorted(operations(spec).items()):
        match = OPERATION_ID.match(str(op.get("operationId", "")))
        if match:
            status, resource, verb = match.groups()
            by_file[HANDLERS / status / f"{resource}.py"].append((verb, match.group(0)))
    for file, verbs in sorted(by_file.items()):
        defined = _defined(file)
        new = [(verb, oid) for verb, oid in verbs if verb not in defined]
        if not new:
            continue
        status, resource = file.parent.name, file.stem
        text = file.read_text(encoding="utf-8") if file.exists() else HEADER.format(status=status, resource=resource)
        if "from gateway.planned import planned" not in text:
            text = text.rstrip("\n") + "\n\nfrom gateway.planned import planned\n"
        text = text.rstrip("\n") + "\n\n" + "\n".join(f'{verb} = planned("{oid}")' for verb, oid in new) + "\n"
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(text, encoding="utf-8")
        added += [oid for _v, oid in new]
    return added
