"""The consolidated endpoint catalogue: markdown tables in the seed's format.

Columns: ``| Category | Method | Path | operationId | Status | Notes |``. Every table in the file whose header has
those columns contributes rows; any other text is free prose.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

HEADER = ["Category", "Method", "Path", "operationId", "Status", "Notes"]
STATUSES = ("native", "custom", "proxy", "stub")


@dataclass(frozen=True)
class Row:
    category: str
    method: str
    path: str
    operation_id: str
    status: str
    notes: str

    @property
    def key(self) -> str:
        return f"{self.method.upper()} {self.path}"

    def cells(self) -> list[str]:
        return [self.category, self.method.upper(), f"`{self.path}`", f"`{self.operation_id}`", self.status, self.notes]


class CatalogueError(ValueError):
    pass


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def parse(path: Path) -> list[Row]:
    rows: list[Row] = []
    in_table = False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.lstrip().startswith("|"):
            in_table = False
            continue
        cells = _cells(line)
        if cells[: len(HEADER)] == HEADER:
            in_table = True
            continue
        if not in_table or set("".join(cells)) <= set("-: "):
            continue
        if len(cells) != len(HEADER):
            raise CatalogueError(f"{path.name}:{number}: expected {len(HEADER)} cells, got {len(cells)}")
        category, method, route, oid, status, notes = (c.strip("`") for c in cells)
        if status not in STATUSES:
            raise CatalogueError(f"{path.name}:{number}: status {status!r} is not one of {', '.join(STATUSES)}")
        if not oid.startswith(status + "."):
            raise CatalogueError(f"{path.name}:{number}: operationId {oid} does not start with its status {status}")
        rows.append(Row(category, method.lower(), route, oid, status, notes))
    keys = [r.key for r in rows]
    dupes = {k for k in keys if keys.count(k) > 1}
    if dupes:
        raise CatalogueError(f"duplicate catalogue rows: {sorted(dupes)}")
    return rows


def render_table(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(r.cells()) + " |" for r in rows]
    return "\n".join(lines) + "\n"
