"""Memory stores (``/v1/memory_stores``), their memories and memory versions, with the SDK's semantics.

* A **memory store** (``memstore_``) is a plain resource: archive makes it read-only (its memories cannot be created
  or updated: 400) and hides it from lists unless ``include_archived``; memories can still be read and deleted and
  versions redacted. Delete removes the store with every memory, version and path claim (then 404 everywhere).
* A **memory** (``mem_``, ``parent_id`` = store id) is a text document addressed by a unique ``path`` within its store;
  its id survives renames. Responses carry ``content_sha256``/``content_size_bytes`` always and ``content`` only with
  ``view=full`` (the default of retrieve; create/update/list default to ``basic``).
* Every mutation that changes something writes one immutable **memory version** (``memver_``, ``parent_id`` = store
  id, operation ``created``/``modified``/``deleted``, the path and content as of that write, ``created_by`` actor).
  Versions outlive their memory; ``redact`` blanks ``content``/``path``/sha/size for good, records ``redacted_at`` /
  ``redacted_by`` and keeps the record. The head version of a live memory cannot be redacted (409).

Path uniqueness under concurrency, on SQLite and PostgreSQL alike, without a table of its own: a *path claim* is a
``memory_path`` row of the generic ``resources`` table whose primary key is derived from (store id, path)
(``mempath_`` + SHA-256). Creating or renaming a memory inserts the claim in the same transaction as the memory row
and its version; a second claim of the same path violates the primary key, the transaction rolls back and the
request answers 409. Deleting or renaming a memory deletes its old claim in that same transaction. A memory's own
updates are compare-and-set on the row's ``version`` (retried on a lost race), so each successful mutation is exactly
one version and the claims always match the live memories.

Store archive/delete vs memory writes: every memory write starts its transaction with a no-op UPDATE of the store row
(:func:`_lock_store`), and the store delete removes the store row before its children, so a write either completes
before the archive/delete or sees it (404 / 400): no memory is written into a deleted or archived store.

The contract (``MemoriesCreateBody``/``MemoriesUpdateBody``, ``path_prefix``) carries a ``pattern`` for paths that is a
conservative rendering of these rules (it also refuses combining marks, which could make a path non-NFC), so a
schema-valid path is one this module accepts; :func:`validate_path` still enforces every rule itself."""

from __future__ import annotations

import functools
import hashlib
import unicodedata
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.errors import Conflict, InvalidRequest
from gateway.storage.pagination import bad_cursor, decode_cursor, encode_cursor, page, page_size
from gateway.storage.resource import Kind, patch_metadata, timestamps
from gateway.storage.store import Record, Store, record_of, rfc3339, utcnow, valid_id
from gateway.storage.tables import resources

STORE = Kind("memory_store", "memstore")
MEMORY = Kind("memory", "mem")
VERSION = Kind("memory_version", "memver")
PATH_CLAIM = "memory_path"  # helper rows: one per live (store, path); never returned

MAX_CONTENT_BYTES = 102_400
MAX_PATH_BYTES = 1024
MAX_SEGMENTS = 20
FULL_VIEW_LIMIT = 20


def _page_size(limit: int | None, view: str) -> int:
    """``limit`` 1..100 (400 otherwise); the full view caps it at 20, as Anthropic's API does (documented)."""
    size = page_size(limit, maximum=100)
    return min(size, FULL_VIEW_LIMIT) if view == "full" else size


ATTEMPTS = 20
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})

View = Literal["basic", "full"]


class PathConflict(Conflict):
    error_type = "memory_path_conflict_error"

    def __init__(self, path: str, memory_id: str | None) -> None:
        owner = f" (conflicting_memory_id: {memory_id})" if memory_id else ""
        super().__init__(f"path: a memory already exists at {path!r} in this memory store{owner}")
        self.conflicting_memory_id = memory_id


class PreconditionFailed(Conflict):
    error_type = "memory_precondition_failed_error"


class _LostRace(Exception):
    """The memory row changed between read and write: retry the whole transaction."""


# --- actors -----------------------------------------------------------------------------------------------------
def api_actor(key_name: str) -> dict[str, Any]:
    """The ``created_by``/``redacted_by`` of a request authenticated with the gateway key named ``key_name``."""
    return {"type": "api_actor", "api_key_id": f"apikey_{key_name}"}


def request_actor() -> dict[str, Any]:
    """The actor of the current request: its gateway key, by name (local mode: ``apikey_local``)."""
    from connexion.context import context

    try:
        info = context.get("token_info")
    except LookupError:  # outside a request
        info = None
    name = info.get("sub") if isinstance(info, Mapping) else None
    return api_actor(name if isinstance(name, str) and name else "local")


def _actor_key(actor: Mapping[str, Any] | None) -> str | None:
    """A flat ``<actor type>:<id>`` string stored beside ``created_by`` so lists can filter on it in SQL."""
    if not actor:
        return None
    for field in ("api_key_id", "session_id", "service_account_id", "user_id"):
        if isinstance(actor.get(field), str):
            return f"{actor['type']}:{actor[field]}"
    return None


# --- validation -------------------------------------------------------------------------------------------------
def _utf8(value: str, field: str) -> bytes:
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidRequest(f"{field}: must be valid UTF-8 text (no unpaired surrogates)") from None


def validate_path(value: Any, field: str = "path") -> str:
    """A memory path as the API defines it, or a 400 naming the rule it breaks."""
    if not isinstance(value, str):
        raise InvalidRequest(f"{field}: must be a string")
    raw = _utf8(value, field)
    if not value.startswith("/"):
        raise InvalidRequest(f"{field}: must start with '/'")
    if len(raw) > MAX_PATH_BYTES:
        raise InvalidRequest(f"{field}: must be at most {MAX_PATH_BYTES} bytes long")
    if any(unicodedata.category(ch) in _FORBIDDEN_CATEGORIES for ch in value):
        raise InvalidRequest(f"{field}: must not contain control or format characters or line/paragraph separators")
    if not unicodedata.is_normalized("NFC", value):
        raise InvalidRequest(f"{field}: must be in Unicode Normalization Form C")
    segments = value[1:].split("/")
    if len(segments) > MAX_SEGMENTS:
        raise InvalidRequest(f"{field}: must have at most {MAX_SEGMENTS} segments")
    if any(segment in ("", ".", "..") for segment in segments):
        raise InvalidRequest(f"{field}: segments must not be empty, '.' or '..'")
    return value


def validate_content(value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidRequest("content: must be a string")
    if len(_utf8(value, "content")) > MAX_CONTENT_BYTES:
        raise InvalidRequest(f"content: must be at most {MAX_CONTENT_BYTES} bytes (UTF-8)")
    return value


def sha256(content: str) -> str:
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def claim_id(store_id: str, path: str) -> str:
    """The deterministic primary key of the claim of ``path`` in store ``store_id`` (fits the 64-character id)."""
    return "mempath_" + hashlib.sha256(f"{store_id}\x00{path}".encode()).hexdigest()[:48]


def _view(value: str | None, default: View) -> View:
    return "full" if (value or default) == "full" else "basic"


# --- responses --------------------------------------------------------------------------------------------------
def store_response(record: Record) -> dict[str, Any]:
    return {**record.doc, **timestamps(record)}


def memory_response(record: Record, view: View) -> dict[str, Any]:
    out = {**record.doc, **timestamps(record, archived=False)}
    if view != "full":
        out["content"] = None
    return out


def version_response(record: Record, view: View) -> dict[str, Any]:
    out = {k: v for k, v in record.doc.items() if not k.startswith("_")}
    out.update(id=record.id, type=record.type, created_at=rfc3339(record.created_at))
    for actor in ("created_by", "redacted_by"):  # the contract's `nullable` + `oneOf` refuses null: omit it
        if out.get(actor) is None:
            out.pop(actor, None)
    if view != "full":
        out["content"] = None
    return out


# --- low-level writes (one transaction per mutation: memory row + claim rows + version row) ---------------------
def _row(id_: str, workspace: str, type_: str, parent_id: str, doc: Mapping[str, Any], at: datetime) -> dict[str, Any]:
    return {
        "id": id_,
        "workspace": workspace,
        "type": type_,
        "parent_id": parent_id,
        "version": 1,
        "created_at": at,
        "updated_at": at,
        "archived_at": None,
        "doc": dict(doc),
    }


async def _claim(conn: AsyncConnection, workspace: str, store_id: str, path: str, memory_id: str, at: datetime) -> None:
    await conn.execute(
        resources.insert().values(
            **_row(claim_id(store_id, path), workspace, PATH_CLAIM, store_id, {"memory_id": memory_id}, at)
        )
    )


async def _release(conn: AsyncConnection, workspace: str, store_id: str, path: str) -> None:
    await conn.execute(
        resources.delete().where(
            resources.c.id == claim_id(store_id, path),
            resources.c.workspace == workspace,
            resources.c.type == PATH_CLAIM,
        )
    )


async def _claim_owner(store: Store, workspace: str, store_id: str, path: str) -> str | None:
    record = await store.get(workspace, PATH_CLAIM, claim_id(store_id, path))
    owner = record.doc.get("memory_id") if record is not None else None
    return owner if isinstance(owner, str) else None


async def _transact(
    store: Store, workspace: str, store_id: str, path: str | None, work: Callable[[AsyncConnection], Awaitable[None]]
) -> bool:
    """Run ``work`` in one transaction: False when it lost a race (the caller re-reads and retries); a duplicate
    claim of ``path`` is a 409 naming the memory that holds it."""
    try:
        async with store.engine.begin() as conn:
            await work(conn)
    except _LostRace:
        return False
    except sa.exc.IntegrityError:
        if path is None:
            raise
        raise PathConflict(path, await _claim_owner(store, workspace, store_id, path)) from None
    return True


def _version_doc(
    memory_id: str,
    store_id: str,
    operation: str,
    path: str,
    content: str | None,
    actor: Mapping[str, Any],
) -> dict[str, Any]:
    return {
        "memory_id": memory_id,
        "memory_store_id": store_id,
        "operation": operation,
        "path": path,
        "content": content,
        "content_sha256": None if content is None else sha256(content),
        "content_size_bytes": None if content is None else len(content.encode("utf-8")),
        "created_by": dict(actor),
        "redacted_at": None,
        "redacted_by": None,
        "_by": _actor_key(actor),
    }


# --- memory stores ----------------------------------------------------------------------------------------------
async def create_store(store: Store, workspace: str, body: Mapping[str, Any]) -> dict[str, Any]:
    doc = {
        "name": body.get("name"),
        "description": body.get("description") or "",
        "metadata": {k: v for k, v in dict(body.get("metadata") or {}).items() if v is not None},
    }
    return store_response(await STORE.create(store, workspace, doc))


async def retrieve_store(store: Store, workspace: str, store_id: str) -> dict[str, Any]:
    return store_response(await STORE.get(store, workspace, store_id))


async def update_store(store: Store, workspace: str, store_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
    def change(record: Record) -> dict[str, Any]:
        doc = dict(record.doc)
        if body.get("name") is not None:
            doc["name"] = body["name"]
        if "description" in body:
            doc["description"] = body["description"] or ""
        if body.get("metadata") is not None:
            doc["metadata"] = patch_metadata(doc.get("metadata"), body["metadata"])
        return doc

    return store_response(await STORE.update(store, workspace, store_id, change))


async def archive_store(store: Store, workspace: str, store_id: str) -> dict[str, Any]:
    return store_response(await STORE.archive(store, workspace, store_id))


async def delete_store(store: Store, workspace: str, store_id: str) -> dict[str, Any]:
    """The store with all its memories, versions and path claims, in one transaction."""
    # the store row goes first: it waits for memory writes in flight (they hold its lock); later ones find no store
    if not await store.delete_tree(workspace, STORE.type, store_id, (MEMORY.type, VERSION.type, PATH_CLAIM)):
        raise STORE.not_found(store_id)
    return {"id": store_id, "type": "memory_store_deleted"}


async def list_stores(
    store: Store,
    workspace: str,
    *,
    limit: int | None,
    page_cursor: str | None,
    include_archived: bool,
    created_at_gte: str | None,
    created_at_lte: str | None,
) -> dict[str, Any]:
    records, next_page = await store.list_resources(
        workspace,
        STORE.type,
        limit=limit,
        page=page_cursor,
        include_archived=include_archived,
        created={"gte": created_at_gte, "lte": created_at_lte},
    )
    return page([store_response(r) for r in records], next_page)


# --- memories ---------------------------------------------------------------------------------------------------
async def _writable_store(store: Store, workspace: str, store_id: str) -> Record:
    """The store, 404 if absent, 400 if archived (its memories cannot be created or updated)."""
    record = await STORE.get(store, workspace, store_id)
    if record.archived_at is not None:
        raise _archived(store_id)
    return record


def _archived(store_id: str) -> InvalidRequest:
    return InvalidRequest(f"memory store {store_id!r} is archived: its memories cannot be created or updated")


async def _lock_store(conn: AsyncConnection, workspace: str, store_id: str, *, writable: bool) -> None:
    """First statement of every memory write: a no-op UPDATE of the store row. It takes the row's write lock (on
    SQLite it starts the write transaction), so a concurrent archive or delete of the store waits for this write or
    is seen by it: no memory is ever written into a deleted (or, for create/update, an archived) store."""
    locked = await conn.execute(
        resources.update()
        .where(resources.c.id == store_id, resources.c.workspace == workspace, resources.c.type == STORE.type)
        .values(version=resources.c.version)
    )
    if locked.rowcount != 1:
        raise STORE.not_found(store_id)
    if writable:
        archived = await conn.scalar(sa.select(resources.c.archived_at).where(resources.c.id == store_id))
        if archived is not None:
            raise _archived(store_id)


async def create_memory(
    store: Store, workspace: str, store_id: str, body: Mapping[str, Any], actor: Mapping[str, Any], view: str | None
) -> dict[str, Any]:
    await _writable_store(store, workspace, store_id)
    path = validate_path(body.get("path"))
    content = validate_content("" if body.get("content") is None else body.get("content"))
    memory_id, version_id = MEMORY.new_id(), VERSION.new_id()
    now = utcnow()
    doc = {
        "memory_store_id": store_id,
        "path": path,
        "content": content,
        "content_sha256": sha256(content),
        "content_size_bytes": len(content.encode("utf-8")),
        "memory_version_id": version_id,
    }

    async def work(conn: AsyncConnection) -> None:
        await _lock_store(conn, workspace, store_id, writable=True)
        await _claim(conn, workspace, store_id, path, memory_id, now)
        await conn.execute(resources.insert().values(**_row(memory_id, workspace, MEMORY.type, store_id, doc, now)))
        version = _version_doc(memory_id, store_id, "created", path, content, actor)
        await conn.execute(
            resources.insert().values(**_row(version_id, workspace, VERSION.type, store_id, version, now))
        )

    await _transact(store, workspace, store_id, path, work)  # a new row cannot lose a race
    record = Record(memory_id, workspace, MEMORY.type, store_id, 1, now, now, None, doc)
    return memory_response(record, _view(view, "basic"))


async def retrieve_memory(
    store: Store, workspace: str, store_id: str, memory_id: str, view: str | None
) -> dict[str, Any]:
    await STORE.get(store, workspace, store_id)
    return memory_response(await MEMORY.get(store, workspace, memory_id, parent_id=store_id), _view(view, "full"))


def _check_precondition(precondition: Any, current: Record) -> None:
    if not isinstance(precondition, Mapping):
        return
    expected = precondition.get("content_sha256")
    if precondition.get("type") == "content_sha256" and expected is not None:
        if expected != current.doc.get("content_sha256"):
            raise PreconditionFailed(
                f"precondition: the memory's content_sha256 is {current.doc.get('content_sha256')!r}, not {expected!r}"
            )


async def update_memory(
    store: Store,
    workspace: str,
    store_id: str,
    memory_id: str,
    body: Mapping[str, Any],
    actor: Mapping[str, Any],
    view: str | None,
) -> dict[str, Any]:
    await _writable_store(store, workspace, store_id)
    new_path = None if body.get("path") is None else validate_path(body.get("path"))
    new_content = None if body.get("content") is None else validate_content(body.get("content"))
    for _ in range(ATTEMPTS):
        current = await MEMORY.get(store, workspace, memory_id, parent_id=store_id)
        old_path, old_content = current.doc["path"], current.doc["content"]
        path = old_path if new_path is None else new_path
        content = old_content if new_content is None else new_content
        if path == old_path and content == old_content:
            return memory_response(current, _view(view, "basic"))  # nothing changes: no new version
        _check_precondition(body.get("precondition"), current)
        version_id = VERSION.new_id()
        now = max(utcnow(), current.updated_at + timedelta(microseconds=1))
        doc = {
            **current.doc,
            "path": path,
            "content": content,
            "content_sha256": sha256(content),
            "content_size_bytes": len(content.encode("utf-8")),
            "memory_version_id": version_id,
        }

        write = functools.partial(
            _write_update,
            workspace,
            store_id,
            current,
            doc,
            old_path,
            _version_doc(memory_id, store_id, "modified", path, content, actor),
            version_id,
            now,
        )
        if not await _transact(store, workspace, store_id, path if path != old_path else None, write):
            continue  # the memory changed meanwhile: re-read, decide again
        record = Record(
            memory_id, workspace, MEMORY.type, store_id, current.version + 1, current.created_at, now, None, doc
        )
        return memory_response(record, _view(view, "basic"))
    raise Conflict(f"memory {memory_id!r} is being updated concurrently; retry the request")


async def _write_update(
    workspace: str,
    store_id: str,
    current: Record,
    doc: Mapping[str, Any],
    old_path: str,
    version: Mapping[str, Any],
    version_id: str,
    now: datetime,
    conn: AsyncConnection,
) -> None:
    await _lock_store(conn, workspace, store_id, writable=True)
    result = await conn.execute(
        resources.update()
        .where(resources.c.id == current.id, resources.c.workspace == workspace, resources.c.type == MEMORY.type)
        .where(resources.c.version == current.version)
        .values(doc=dict(doc), version=current.version + 1, updated_at=now)
    )
    if result.rowcount != 1:
        raise _LostRace
    if doc["path"] != old_path:
        await _claim(conn, workspace, store_id, doc["path"], current.id, now)
        await _release(conn, workspace, store_id, old_path)
    await conn.execute(resources.insert().values(**_row(version_id, workspace, VERSION.type, store_id, version, now)))


async def _write_delete(
    workspace: str, store_id: str, current: Record, version: Mapping[str, Any], now: datetime, conn: AsyncConnection
) -> None:
    await _lock_store(conn, workspace, store_id, writable=False)
    result = await conn.execute(
        resources.delete().where(
            resources.c.id == current.id,
            resources.c.workspace == workspace,
            resources.c.type == MEMORY.type,
            resources.c.version == current.version,
        )
    )
    if result.rowcount != 1:
        raise _LostRace
    await _release(conn, workspace, store_id, current.doc["path"])
    await conn.execute(
        resources.insert().values(**_row(VERSION.new_id(), workspace, VERSION.type, store_id, version, now))
    )


async def delete_memory(
    store: Store,
    workspace: str,
    store_id: str,
    memory_id: str,
    expected_content_sha256: str | None,
    actor: Mapping[str, Any],
) -> dict[str, Any]:
    """Allowed on an archived store too (the API lets you read and delete its memories)."""
    await STORE.get(store, workspace, store_id)
    for _ in range(ATTEMPTS):
        current = await MEMORY.get(store, workspace, memory_id, parent_id=store_id)
        if expected_content_sha256 is not None and expected_content_sha256 != current.doc.get("content_sha256"):
            raise PreconditionFailed(
                f"expected_content_sha256: the memory's content_sha256 is {current.doc.get('content_sha256')!r}"
            )
        now = max(utcnow(), current.updated_at + timedelta(microseconds=1))
        version = _version_doc(memory_id, store_id, "deleted", current.doc["path"], None, actor)
        if not await _transact(
            store,
            workspace,
            store_id,
            None,
            functools.partial(_write_delete, workspace, store_id, current, version, now),
        ):
            continue
        return {"id": memory_id, "type": "memory_deleted"}
    raise Conflict(f"memory {memory_id!r} is being updated concurrently; retry the request")


async def list_memories(
    store: Store,
    workspace: str,
    store_id: str,
    *,
    path_prefix: str | None,
    depth: int | None,
    limit: int | None,
    page_cursor: str | None,
    view: str | None,
) -> dict[str, Any]:
    """Memories in path order (``memory_prefix`` markers roll up what lies deeper than ``depth``)."""
    await STORE.get(store, workspace, store_id)
    prefix = "/" if path_prefix in (None, "") else str(path_prefix)
    if not prefix.startswith("/") or not prefix.endswith("/"):
        raise InvalidRequest("path_prefix: must start and end with '/'")
    if depth is not None and depth < 0:
        raise InvalidRequest("depth: must be 0 (every memory below the prefix) or more")
    chosen = _view(view, "basic")
    size = _page_size(limit, chosen)
    kind = f"memories:{store_id}:{prefix}:{depth or 0}"
    after = decode_cursor(page_cursor, kind)
    if after is not None and (len(after) != 1 or not isinstance(after[0], str)):
        raise bad_cursor()

    query = sa.select(resources.c.id, resources.c.doc["path"].as_string().label("path")).where(
        resources.c.workspace == workspace, resources.c.type == MEMORY.type, resources.c.parent_id == store_id
    )
    async with store.engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    items: dict[str, str | None] = {}  # path -> memory id (None: a memory_prefix marker)
    for row in rows:
        path = row.path
        if not isinstance(path, str) or not path.startswith(prefix):
            continue
        segments = path[len(prefix) :].split("/")
        if depth and len(segments) > depth:
            items[prefix + "/".join(segments[:depth]) + "/"] = None
        else:
            items[path] = row.id
    ordered = sorted(items)
    if after is not None:
        ordered = [p for p in ordered if p > after[0]]
    chunk = ordered[:size]
    ids = [items[p] for p in chunk if items[p] is not None]
    records: dict[str, Record] = {}
    if ids:
        async with store.engine.connect() as conn:
            found = (
                await conn.execute(
                    sa.select(resources).where(resources.c.id.in_(ids), resources.c.workspace == workspace)
                )
            ).all()
        records = {r.id: record_of(r) for r in found}
    data: list[dict[str, Any]] = []
    for path in chunk:
        memory_id = items[path]
        if memory_id is None:
            data.append({"type": "memory_prefix", "path": path})
        elif memory_id in records:  # deleted between the two reads: skip it
            data.append(memory_response(records[memory_id], chosen))
    next_page = encode_cursor(kind, [chunk[-1]]) if len(ordered) > size else None
    return page(data, next_page)


# --- memory versions --------------------------------------------------------------------------------------------
async def retrieve_version(
    store: Store, workspace: str, store_id: str, version_id: str, view: str | None
) -> dict[str, Any]:
    await STORE.get(store, workspace, store_id)
    return version_response(await VERSION.get(store, workspace, version_id, parent_id=store_id), _view(view, "full"))


async def redact_version(
    store: Store, workspace: str, store_id: str, version_id: str, actor: Mapping[str, Any]
) -> dict[str, Any]:
    """Blank the version's content, path, hash and size for good (idempotent: a redacted version stays as it was
    first redacted). The version that holds a live memory's current content cannot be redacted: 409."""
    await STORE.get(store, workspace, store_id)
    version = await VERSION.get(store, workspace, version_id, parent_id=store_id)
    if version.doc.get("redacted_at") is not None:
        return version_response(version, "basic")
    memory = await store.get(workspace, MEMORY.type, str(version.doc.get("memory_id")))
    if memory is not None and memory.doc.get("memory_version_id") == version_id:
        raise Conflict(
            f"memory version {version_id!r} holds the current content of memory {memory.id!r}; "
            "update or delete the memory before redacting this version"
        )

    def change(record: Record) -> dict[str, Any]:
        doc = dict(record.doc)
        if doc.get("redacted_at") is None:
            doc.update(
                content=None,
                path=None,
                content_sha256=None,
                content_size_bytes=None,
                redacted_at=rfc3339(utcnow()),
                redacted_by=dict(actor),
            )
        return doc

    record = await VERSION.update(store, workspace, version_id, change, parent_id=store_id, allow_archived=True)
    return version_response(record, "basic")


async def list_versions(
    store: Store,
    workspace: str,
    store_id: str,
    *,
    limit: int | None,
    page_cursor: str | None,
    view: str | None,
    memory_id: str | None = None,
    operation: str | None = None,
    api_key_id: str | None = None,
    session_id: str | None = None,
    service_account_id: str | None = None,
    created_at_gte: str | None = None,
    created_at_lte: str | None = None,
) -> dict[str, Any]:
    """Newest first. Filters that name nothing (or are not timestamps, for ``created_at``) select nothing."""
    await STORE.get(store, workspace, store_id)
    chosen = _view(view, "basic")
    actors = [
        f"{kind_}:{value}"
        for kind_, value in (
            ("api_actor", api_key_id),
            ("session_actor", session_id),
            ("service_account_actor", service_account_id),
        )
        if value is not None
    ]
    texts = [t for t in (memory_id, operation, *actors) if t is not None]
    if not all(valid_id(t) for t in texts) or len(set(actors)) > 1:
        return page([], None)
    where: list[Any] = []
    if memory_id is not None:
        where.append(resources.c.doc["memory_id"].as_string() == memory_id)
    if operation is not None:
        where.append(resources.c.doc["operation"].as_string() == operation)
    if actors:
        where.append(resources.c.doc["_by"].as_string() == actors[0])
    records, next_page = await store.list_resources(
        workspace,
        VERSION.type,
        limit=_page_size(limit, chosen),
        page=page_cursor,
        include_archived=True,
        parent_id=store_id,
        created={"gte": created_at_gte, "lte": created_at_lte},
        where=where,
        max_limit=100,
        cursor_key="versions",
    )
    return page([version_response(r, chosen) for r in records], next_page)
