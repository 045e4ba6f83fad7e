"""Files (``/v1/files``): uploaded contents live in the blob store under the file id, metadata in the ``resources``
table (``type: "file"``, ``parent_id`` = the scope id of files written by a session). Delete removes the row, then
the blob (``{id, type: "file_deleted"}``), afterwards 404.

``files.list`` serves both SDK generations in one envelope: ``{data, next_page, has_more, first_id, last_id}``.
The SDK 2.x ``SyncPageCursor`` follows ``page=next_page``; the older ``SyncPage`` follows ``after_id=last_id`` (or
``before_id=first_id`` when it paged backwards) while ``has_more``. ``ids`` selects files by id (one page).

Deviation from the hosted API: uploaded files are ``downloadable: true`` (the hosted API marks uploads not
downloadable and answers 400 ``file_not_downloadable``); this gateway serves the bytes back.
"""

from __future__ import annotations

import mimetypes
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from gateway.errors import InvalidRequest, NotFound
from gateway.storage.blobs import BlobStore
from gateway.storage.pagination import bad_cursor, decode_cursor, encode_cursor
from gateway.storage.resource import Kind
from gateway.storage.store import Record, Store, parse_rfc3339, rfc3339, utcnow, valid_id
from gateway.storage.tables import resources

KIND = Kind("file", "file")
MAX_FILE_BYTES = 500 * 1024 * 1024  # the Files API limit (500 MB); the upload route's body limit applies first
MAX_LIST_LIMIT = 1000
MAX_IDS = 100
MAX_EXPIRY_SECONDS = 100 * 365 * 24 * 3600
DEFAULT_MIME = "application/octet-stream"


# --- generic: a (created_at, id) cursor page over list_by_id ------------------------------------------------------
async def position_page(
    store: Store,
    workspace: str,
    type_: str,
    *,
    kind: str,
    limit: int | None,
    page: str | None,
    parent_id: str | None = None,
    max_limit: int = MAX_LIST_LIMIT,
    where: Sequence[Any] = (),
) -> tuple[list[Record], str | None]:
    """A ``SyncPageCursor`` page, newest first, with any ``limit`` bound and extra ``where`` conditions (the shared
    ``Store.list_resources`` has neither). The cursor carries the last item's (created_at, id), so deleting that
    item does not break the next page. TODO(lead): fold into Store/pagination."""
    conditions = list(where)
    key = decode_cursor(page, kind)
    if key is not None:
        if len(key) != 2 or not all(isinstance(k, str) and valid_id(k) for k in key):
            raise bad_cursor()
        created = parse_rfc3339(key[0])
        if created is None:
            raise bad_cursor()
        conditions.append(
            sa.or_(
                resources.c.created_at < created,
                sa.and_(resources.c.created_at == created, resources.c.id < key[1]),
            )
        )
    records, has_more = await store.list_by_id(
        workspace, type_, limit=limit, parent_id=parent_id, max_limit=max_limit, where=conditions
    )
    next_page = None
    if has_more and records:
        next_page = encode_cursor(kind, [records[-1].created_at.isoformat(), records[-1].id])
    return records, next_page


# --- files ----------------------------------------------------------------------------------------------------------
def guess_mime(filename: str, declared: str | None) -> str:
    """The part's declared type unless it says nothing (absent or octet-stream): then a guess from the name."""
    if declared and declared.strip() and declared.split(";")[0].strip().lower() != DEFAULT_MIME:
        return declared.strip()
    guessed, _ = mimetypes.guess_type(filename, strict=False)
    return guessed or (declared or "").strip() or DEFAULT_MIME


def response(record: Record) -> dict[str, Any]:
    doc = record.doc
    out: dict[str, Any] = {
        "id": record.id,
        "type": "file",
        "filename": doc["filename"],
        "mime_type": doc["mime_type"],
        "size_bytes": doc["size_bytes"],
        "created_at": rfc3339(record.created_at),
        "downloadable": doc.get("downloadable", True),
    }
    expiry = expires_at(record)
    if expiry is not None:
        out["expires_at"] = rfc3339(expiry)
    if doc.get("scope") is not None:
        out["scope"] = doc["scope"]
    return out


def expiry_seconds(seconds: Any) -> int | None:
    """``expires_in_seconds`` clamped to 0..100 years (None: never). Not an integer: 400."""
    if seconds is None or seconds == "":
        return None
    try:
        value = int(seconds)
    except (TypeError, ValueError):
        raise InvalidRequest("expires_in_seconds: must be an integer") from None
    return max(0, min(value, MAX_EXPIRY_SECONDS))


def expires_at(record: Record) -> datetime | None:
    """The upload time plus ``expires_in_seconds``."""
    seconds = record.doc.get("expires_in_seconds")
    return None if seconds is None else record.created_at + timedelta(seconds=int(seconds))


async def create(
    store: Store,
    blobs: BlobStore,
    workspace: str,
    chunks: AsyncIterator[bytes],
    *,
    filename: str,
    mime_type: str,
    expires_in_seconds: Any = None,
    scope: Mapping[str, str] | None = None,
    max_bytes: int | None = None,
) -> dict[str, Any]:
    """Stream ``chunks`` into a new blob, then record its metadata (the blob is removed if that fails). ``scope``
    (``{type: "session", id}``) marks a file written by a session; ``list(scope_id=...)`` selects those."""
    expiry = expiry_seconds(expires_in_seconds)
    file_id = KIND.new_id()
    async with blobs.writer(file_id, max_bytes=MAX_FILE_BYTES if max_bytes is None else max_bytes) as writer:
        async for chunk in chunks:
            await writer.write(chunk)
    doc = {
        "filename": filename,
        "mime_type": mime_type,
        "size_bytes": writer.size,
        "downloadable": True,
        "expires_in_seconds": expiry,
        "scope": dict(scope) if scope else None,
    }
    try:
        record = await store.create(workspace, KIND.type, file_id, doc, parent_id=scope["id"] if scope else None)
    except BaseException:
        await blobs.delete(file_id)
        raise
    return response(record)


async def retrieve(store: Store, workspace: str, file_id: str) -> dict[str, Any]:
    return response(await KIND.get(store, workspace, file_id))


async def delete(store: Store, blobs: BlobStore, workspace: str, file_id: str) -> dict[str, Any]:
    """The row first, then the blob: a crash in between leaves an orphan blob, never a row without contents."""
    deleted = await KIND.delete(store, workspace, file_id)
    await blobs.delete(file_id)
    return deleted


@dataclass(frozen=True)
class Download:
    chunks: AsyncIterator[bytes]
    filename: str
    mime_type: str
    size: int


async def download(store: Store, blobs: BlobStore, workspace: str, file_id: str) -> Download:
    record = await KIND.get(store, workspace, file_id)
    expiry = expires_at(record)
    if expiry is not None and expiry <= utcnow():
        raise NotFound(f"file {file_id!r} has expired")
    chunks = blobs.reader(file_id)
    if chunks is None:
        raise NotFound(f"the contents of file {file_id!r} are no longer available")
    return Download(chunks, record.doc["filename"], record.doc["mime_type"], int(record.doc["size_bytes"]))


def _envelope(data: list[dict[str, Any]], has_more: bool, next_page: str | None) -> dict[str, Any]:
    return {
        "data": data,
        "has_more": has_more,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "next_page": next_page,
    }


async def list_files(
    store: Store,
    workspace: str,
    *,
    limit: int | None = None,
    page: str | None = None,
    after_id: str | None = None,
    before_id: str | None = None,
    ids: Sequence[str] | None = None,
    scope_id: str | None = None,
) -> dict[str, Any]:
    """Newest first. ``ids``: those files (unknown ids silently omitted), one page; ``after_id``/``before_id``: the
    ``SyncPage`` scheme; otherwise the ``page`` cursor."""
    scope = scope_id or None
    if ids is not None and len(ids) > 0:
        wanted = list(dict.fromkeys(ids))
        if len(wanted) > MAX_IDS:
            raise InvalidRequest(f"ids: at most {MAX_IDS} entries")
        found = [await store.get(workspace, KIND.type, i) for i in wanted]
        records = [r for r in found if r is not None and (scope is None or r.parent_id == scope)]
        records.sort(key=lambda r: (r.created_at, r.id), reverse=True)
        return _envelope([response(r) for r in records], False, None)
    kind = f"files:{scope or ''}"
    if after_id or before_id:
        records, has_more = await store.list_by_id(
            workspace,
            KIND.type,
            limit=limit,
            after_id=after_id or None,
            before_id=before_id or None,
            parent_id=scope,
            max_limit=MAX_LIST_LIMIT,
        )
        next_page = None
        if has_more and records and not before_id:
            next_page = encode_cursor(kind, [records[-1].created_at.isoformat(), records[-1].id])
        return _envelope([response(r) for r in records], has_more, next_page)
    records, next_page = await position_page(
        store, workspace, KIND.type, kind=kind, limit=limit, page=page, parent_id=scope
    )
    return _envelope([response(r) for r in records], next_page is not None, next_page)
