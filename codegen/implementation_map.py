"""The implementation map (the seed's "Mapa de Implementação"), computed from the spec."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from codegen.catalogue import STATUSES
from codegen.spec import operations

Doc = dict[str, Any]


def group_of(op: Doc) -> str:
    return str(op.get("x-group") or op.get("tags", ["?"])[0])


def summary_table(spec: Doc) -> str:
    groups: dict[str, Counter[str]] = defaultdict(Counter)
    for _key, (_m, _p, op) in operations(spec).items():
        counter = groups[group_of(op)]
        counter[op["x-implementation"]] += 1
        counter["planned" if op.get("x-planned") else "implemented"] += 1
    header = ["Group", "Total", *STATUSES, "Implemented", "Planned (501)"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    total: Counter[str] = Counter()
    for name in sorted(groups):
        c = groups[name]
        total.update(c)
        count = sum(c[s] for s in STATUSES)
        cells = [name, str(count), *(str(c[s]) for s in STATUSES), str(c["implemented"]), str(c["planned"])]
        lines.append("| " + " | ".join(cells) + " |")
    count = sum(total[s] for s in STATUSES)
    cells = ["**Total**", f"**{count}**", *(f"**{total[s]}**" for s in STATUSES)]
    cells += [f"**{total['implemented']}**", f"**{total['planned']}**"]
    lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def operations_table(spec: Doc) -> str:
    header = ["Group", "Method", "Path", "operationId", "Implementation", "State"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    rows = sorted(operations(spec).items(), key=lambda kv: (group_of(kv[1][2]), kv[1][1], kv[1][0]))
    for _key, (method, path, op) in rows:
        state = "planned (501)" if op.get("x-planned") else "implemented"
        cells = [group_of(op), method.upper(), f"`{path}`", f"`{op['operationId']}`", op["x-implementation"], state]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


BEGIN, END = "<!-- map:begin -->", "<!-- map:end -->"


def readme_with_map(readme: str, spec: Doc) -> str:
    """``readme`` with the text between the map markers replaced by the current summary table."""
    head, _sep, rest = readme.partition(BEGIN)
    _old, _sep, tail = rest.partition(END)
    return f"{head}{BEGIN}\n{summary_table(spec)}{END}{tail}"
