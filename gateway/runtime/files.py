"""Paths of the file tools (``read``, ``write``, ``edit``, ``glob``): the model names files as its commands see them
(``/workspace/a.txt`` in the sandbox, or relative to the working directory); the gateway reads and writes the same
files on the host side of the session's directory.

A path is resolved with every symlink followed and refused unless it ends inside the session's directory, so a
link the model made with ``bash`` (``ln -s /etc/passwd x``) cannot carry a file tool outside it. No process of the
session runs between calls (the executor kills them at the end of each), so a link cannot change between the check
and the use."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

#: files larger than this are not read whole (``read`` with ``view_range`` still works)
MAX_READ_BYTES = 10 * 1024 * 1024
GLOB_LIMIT = 1000


class PathRefused(ValueError):
    pass


def within(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def host_path(root: Path, visible_root: str, file_path: str) -> Path:
    """The host path of ``file_path`` (which must stay inside ``root`` once symlinks are followed)."""
    pure = PurePosixPath(file_path)
    if pure.is_absolute():
        try:
            pure = pure.relative_to(visible_root)
        except ValueError:
            raise PathRefused(f"{file_path} is outside the working directory {visible_root}") from None
    resolved = (root / pure).resolve()
    if not within(resolved, root.resolve()):
        raise PathRefused(f"{file_path} is outside the working directory {visible_root}")
    return resolved


def visible_path(root: Path, visible_root: str, path: Path) -> str:
    return str(PurePosixPath(visible_root) / path.relative_to(root.resolve()))


def read(path: Path, file_path: str, view_range: list[int] | None) -> str:
    if not path.is_file():
        raise PathRefused(f"{file_path}: no such file" if not path.exists() else f"{file_path}: not a regular file")
    size = path.stat().st_size
    if size > MAX_READ_BYTES and not view_range:
        raise PathRefused(
            f"{file_path} is {size} bytes, exceeds {MAX_READ_BYTES}-byte limit. "
            "Use the view_range parameter to read specific line ranges, e.g. view_range: [1, 500]."
        )
    lines: list[str] = []
    with path.open(encoding="utf-8", errors="strict", newline="") as handle:
        if not view_range:
            return handle.read()
        first, last = view_range
        for number, line in enumerate(handle, start=1):
            if number >= max(first, 1) and (last <= 0 or number <= last):
                lines.append(line)
            elif last > 0 and number > last:
                break
    return "".join(lines).removesuffix("\n")


def make_parents(path: Path, root: Path) -> list[Path]:
    """Create the missing directories between ``root`` and ``path``; returns those it made."""
    made = []
    for parent in reversed(path.parents):
        if within(parent, root.resolve()) and not parent.exists():
            parent.mkdir()
            made.append(parent)
    return made
