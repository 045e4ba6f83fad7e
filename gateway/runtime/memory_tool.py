"""The memory tool: the session's ``memory_store`` resources exposed to the model, read and written in storage.

A session with memory stores attached is offered a server tool ``memory`` with the commands of Anthropic's memory
tool (``memory_20250818``: ``view``, ``create``, ``str_replace``, ``insert``, ``delete``, ``rename``). Each store is a
directory ``/memories/<store name>`` (its id when it has no usable name); a file below it is the memory whose
``path`` is the rest (``/memories/notes/team/a.md`` → memory ``/team/a.md`` of store ``notes``). Directories are the
path prefixes of the memories. Nothing is kept on disk: every command reads or writes the stored memories through
:mod:`gateway.storage.memory`, so each write is one memory version with ``created_by: {type: session_actor,
session_id}`` and is visible through ``/v1/memory_stores/{id}/memories`` at once. An edit carries the content hash it
read as its precondition, so a concurrent change through the API is never overwritten (the model reads an error and
views the file again). A store attached ``read_only`` refuses every write.

The system prompt gets a memory section naming each store's directory, access, description and the attachment's
``instructions`` (:func:`prompt`). Results and errors follow the SDK's reference implementation of the tool
(``anthropic.lib.tools._beta_builtin_memory_tool``), so a model trained on it reads what it expects."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.errors import GatewayError
from gateway.runtime.server_tools import Outcome, ServerCall
from gateway.runtime.tools import Offered
from gateway.storage import memory
from gateway.storage.store import Record, Store

NAME = "memory"
ROOT = "/memories"
COMMANDS = ("view", "create", "str_replace", "insert", "delete", "rename")
_STRING: dict[str, Any] = {"type": "string"}
DEFINITION: dict[str, Any] = {
    "name": NAME,
    "description": (
        "Read and write your persistent memory: files under /memories/<store>/ that outlive this session. "
        "view a directory or file; create a file; str_replace, insert into, delete or rename a file or directory."
    ),
    "input_schema": {
        "type": "object",
        "properties": {
            "command": {"type": "string", "enum": list(COMMANDS)},
            "path": {**_STRING, "description": "Path under /memories (view, create, str_replace, insert, delete)."},
            "view_range": {"type": "array", "items": {"type": "integer"}, "description": "[first, last] line"},
            "file_text": {**_STRING, "description": "create: the file's content."},
            "old_str": {**_STRING, "description": "str_replace: the text to replace (must be unique)."},
            "new_str": {**_STRING, "description": "str_replace: the replacement."},
            "insert_line": {"type": "integer", "description": "insert: the line after which the text goes (0: top)."},
            "insert_text": {**_STRING, "description": "insert: the text to insert."},
            "old_path": {**_STRING, "description": "rename: the current path."},
            "new_path": {**_STRING, "description": "rename: the new path."},
        },
        "required": ["command"],
    },
}
LINE_WIDTH = 6
PAGE = 100


class ToolError(Exception):
    """What the model reads as the command's error."""


@dataclass(frozen=True, slots=True)
class Attached:
    directory: str  # the store's name under /memories
    store_id: str
    read_only: bool
    resource: Mapping[str, Any]


def _directory(resource: Mapping[str, Any]) -> str:
    name = str(resource.get("name") or "").strip().replace("/", "_")
    return name if name and name not in (".", "..") else str(resource.get("memory_store_id"))


def attached(session: Mapping[str, Any]) -> list[Attached]:
    """The session's memory stores, first attachment wins a directory name."""
    out: dict[str, Attached] = {}
    for resource in session.get("resources") or []:
        if isinstance(resource, Mapping) and resource.get("type") == "memory_store":
            directory = _directory(resource)
            if directory in out:
                directory = str(resource.get("memory_store_id"))
            read_only = resource.get("access") == "read_only"
            out.setdefault(directory, Attached(directory, str(resource.get("memory_store_id")), read_only, resource))
    return list(out.values())


def offered(session: Mapping[str, Any]) -> Offered | None:
    return Offered(NAME, "server", "allow", DEFINITION) if attached(session) else None


def prompt(session: Mapping[str, Any]) -> str | None:
    stores = attached(session)
    if not stores:
        return None
    lines = [
        "# Memory",
        f"You have persistent memory through the `{NAME}` tool. Each memory store is a directory under {ROOT}; "
        "what you write there is kept after this session ends. View it before you start.",
    ]
    for store in stores:
        access = "read-only" if store.read_only else "read and write"
        description = store.resource.get("description")
        lines.append(f"- {ROOT}/{store.directory} ({access})" + (f": {description}" if description else ""))
        if store.resource.get("instructions"):
            lines.append(f"  {store.resource['instructions']}")
    return "\n".join(lines)


def _size(n: int) -> str:
    value, units = float(n), ("B", "K", "M", "G")
    for unit in units:
        if value < 1024 or unit == units[-1]:
            return f"{int(value)}{unit}" if unit == "B" or value.is_integer() else f"{value:.1f}{unit}"
        value /= 1024
    return f"{n}B"


def _numbered(text: str, first: int = 1) -> str:
    return "\n".join(f"{str(i + first).rjust(LINE_WIDTH)}\t{line}" for i, line in enumerate(text.split("\n")))


class MemoryTool:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def __call__(self, call: ServerCall) -> Outcome:
        command = call.input.get("command")
        if command not in COMMANDS:
            return Outcome.text(f"memory: command must be one of {', '.join(COMMANDS)}", is_error=True)
        session = _Session(self.store, call)
        try:
            text = await getattr(session, str(command))()
        except ToolError as error:
            return Outcome.text(str(error), is_error=True)
        except GatewayError as error:  # a rule of the memories API (path, size, archived store, conflict …)
            return Outcome.text(f"memory: {error.message}", is_error=True)
        return Outcome.text(text)


class _Session:
    """One command of one session."""

    def __init__(self, store: Store, call: ServerCall) -> None:
        self.store, self.workspace, self.input = store, call.workspace, call.input
        self.stores = {s.directory: s for s in attached(call.session.doc)}
        self.actor = {"type": "session_actor", "session_id": call.session.id}

    # --- paths ------------------------------------------------------------------------------------------------
    def _arg(self, key: str) -> str:
        value = self.input.get(key)
        if not isinstance(value, str):
            raise ToolError(f"memory: {key} is required")
        return value

    def _locate(self, path: str) -> tuple[Attached | None, str]:
        """(store, memory path or prefix without a trailing '/'); (None, '') for /memories itself."""
        clean = "/" + "/".join(p for p in path.split("/") if p)
        if clean == ROOT:
            return None, ""
        if not clean.startswith(ROOT + "/"):
            raise ToolError(f"Path must start with {ROOT}, got: {path}")
        directory, _, rest = clean[len(ROOT) + 1 :].partition("/")
        attached_store = self.stores.get(directory)
        if attached_store is None:
            raise ToolError(f"The path {path} does not exist. Please provide a valid path.")
        return attached_store, "/" + rest if rest else ""

    def _writable(self, path: str) -> tuple[Attached, str]:
        store, inner = self._locate(path)
        if store is None or not inner:
            raise ToolError(f"Cannot change {path}: it is a memory store's directory, not a file")
        if store.read_only:
            raise ToolError(f"The memory store {ROOT}/{store.directory} is attached read-only: {path} cannot change")
        return store, inner

    async def _file(self, store: Attached, inner: str) -> Record | None:
        claim = await self.store.get(self.workspace, memory.PATH_CLAIM, memory.claim_id(store.store_id, inner))
        memory_id = claim.doc.get("memory_id") if claim is not None else None
        if not isinstance(memory_id, str):
            return None
        return await self.store.get(self.workspace, memory.MEMORY.type, memory_id)

    async def _existing(self, path: str) -> tuple[Attached, str, Record]:
        store, inner = self._writable(path)
        record = await self._file(store, inner)
        if record is None:
            raise ToolError(f"The path {path} does not exist. Please provide a valid path.")
        return store, inner, record

    async def _below(self, store: Attached, prefix: str) -> list[dict[str, Any]]:
        """Every memory whose path starts with ``prefix/`` (basic view: no content)."""
        out: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            listed = await memory.list_memories(
                self.store,
                self.workspace,
                store.store_id,
                path_prefix=prefix + "/",
                depth=None,
                limit=PAGE,
                page_cursor=cursor,
                view="basic",
            )
            out += [m for m in listed["data"] if m.get("type") == "memory"]
            cursor = listed.get("next_page")
            if not cursor:
                return out

    async def _update(self, store: Attached, record: Record, **change: str) -> None:
        body = {**change, "precondition": {"type": "content_sha256", "content_sha256": record.doc["content_sha256"]}}
        try:
            await memory.update_memory(self.store, self.workspace, store.store_id, record.id, body, self.actor, None)
        except memory.PreconditionFailed:
            raise ToolError(
                f"{ROOT}/{store.directory}{record.doc['path']} changed since it was read; view it again"
            ) from None

    # --- commands ---------------------------------------------------------------------------------------------
    async def view(self) -> str:
        path = self._arg("path")
        store, inner = self._locate(path)
        if store is not None and inner:
            record = await self._file(store, inner)
            if record is not None:
                return self._view_file(path, str(record.doc.get("content") or ""))
        entries = await self._listing(store, inner)
        if store is not None and inner and not entries:
            raise ToolError(f"The path {path} does not exist. Please provide a valid path.")
        header = f"Here're the files and directories up to 2 levels deep in {path}, excluding hidden items:"
        return "\n".join([header, f"-\t{path.rstrip('/') or ROOT}", *entries])

    def _view_file(self, path: str, content: str) -> str:
        view_range = self.input.get("view_range")
        lines, first = content.split("\n"), 1
        if isinstance(view_range, list) and len(view_range) == 2 and all(isinstance(n, int) for n in view_range):
            first = max(1, view_range[0])
            lines = lines[first - 1 : None if view_range[1] == -1 else view_range[1]]
        return f"Here's the content of {path} with line numbers:\n" + _numbered("\n".join(lines), first)

    async def _listing(self, store: Attached | None, inner: str, levels: int = 2) -> list[str]:
        """``size\tpath`` lines of what lies below (directories end with '/'; hidden names are left out)."""
        if store is None:  # /memories: each store's directory and its first level
            out = []
            for directory, attached_store in sorted(self.stores.items()):
                out.append(f"-\t{ROOT}/{directory}/")
                out += await self._listing(attached_store, "", levels=1)
            return out
        base = f"{ROOT}/{store.directory}{inner}"
        items: dict[str, str] = {}
        for found in await self._below(store, inner):
            rest = str(found["path"])[len(inner) + 1 :].split("/")
            if any(part.startswith(".") for part in rest):
                continue
            for depth in range(1, min(len(rest), levels) + 1):
                name = "/".join(rest[:depth])
                if depth < len(rest):
                    items.setdefault(f"{base}/{name}/", "-")
                else:
                    items[f"{base}/{name}"] = _size(int(found.get("content_size_bytes") or 0))
        return [f"{size}\t{name}" for name, size in sorted(items.items())]

    async def create(self) -> str:
        path, text = self._arg("path"), self._arg("file_text")
        store, inner = self._writable(path)
        try:
            await memory.create_memory(
                self.store, self.workspace, store.store_id, {"path": inner, "content": text}, self.actor, None
            )
        except memory.PathConflict:
            raise ToolError(f"File {path} already exists") from None
        return f"File created successfully at: {path}"

    async def str_replace(self) -> str:
        path, old, new = self._arg("path"), self._arg("old_str"), self._arg("new_str")
        store, _inner, record = await self._existing(path)
        content = str(record.doc.get("content") or "")
        count = content.count(old)
        if count == 0:
            raise ToolError(f"No replacement was performed, old_str `{old}` did not appear verbatim in {path}.")
        if count > 1:
            starts = [i for i in range(len(content)) if content.startswith(old, i)]
            where = ", ".join(str(content[:i].count("\n") + 1) for i in starts)
            raise ToolError(
                f"No replacement was performed. Multiple occurrences of old_str `{old}` in lines: {where}. "
                "Please ensure it is unique"
            )
        changed = content[: content.find(old)].count("\n")
        updated = content.replace(old, new)
        await self._update(store, record, content=updated)
        lines = updated.split("\n")
        first = max(0, changed - 2)
        snippet = _numbered("\n".join(lines[first : changed + 3]), first + 1)
        return (
            f"The memory file has been edited. Here is the snippet showing the change (with line numbers):\n{snippet}"
        )

    async def insert(self) -> str:
        path, text = self._arg("path"), self._arg("insert_text")
        line = self.input.get("insert_line")
        store, _inner, record = await self._existing(path)
        content = str(record.doc.get("content") or "")
        lines = content.split("\n") if content else []
        if lines and lines[-1] == "":
            lines.pop()
        if not isinstance(line, int) or isinstance(line, bool) or not 0 <= line <= len(lines):
            raise ToolError(
                f"Invalid `insert_line` parameter: {line}. It should be within the range [0, {len(lines)}]."
            )
        lines.insert(line, text.rstrip("\n"))
        await self._update(store, record, content="\n".join(lines) + "\n")
        return f"The file {path} has been edited."

    async def delete(self) -> str:
        path = self._arg("path")
        store, inner = self._writable(path)
        record = await self._file(store, inner)
        targets = [record.id] if record is not None else [str(m["id"]) for m in await self._below(store, inner)]
        if not targets:
            raise ToolError(f"The path {path} does not exist")
        for memory_id in targets:
            await memory.delete_memory(self.store, self.workspace, store.store_id, memory_id, None, self.actor)
        return f"Successfully deleted {path}"

    async def rename(self) -> str:
        old_path, new_path = self._arg("old_path"), self._arg("new_path")
        store, old_inner = self._writable(old_path)
        target, new_inner = self._writable(new_path)
        if target.store_id != store.store_id:
            raise ToolError("Cannot rename across memory stores: create the file in the other store, then delete it")
        if await self._file(store, new_inner) is not None or await self._below(store, new_inner):
            raise ToolError(f"The destination {new_path} already exists")
        record = await self._file(store, old_inner)
        if record is not None:
            moves = [(record.id, new_inner)]
        else:
            below = await self._below(store, old_inner)
            moves = [(str(m["id"]), new_inner + str(m["path"])[len(old_inner) :]) for m in below]
        if not moves:
            raise ToolError(f"The path {old_path} does not exist")
        for memory_id, path in moves:
            body = {"path": path}
            await memory.update_memory(self.store, self.workspace, store.store_id, memory_id, body, self.actor, None)
        return f"Successfully renamed {old_path} to {new_path}"
