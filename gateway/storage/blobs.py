"""Blob storage (file contents, skill-version zips) and streamed multipart uploads.

The interface is deliberately small so an object store can implement it later:

* ``async with store.writer(key, max_bytes=...) as w: await w.write(chunk)``: chunks go to a temporary object which
  becomes visible under ``key`` only when the block exits without an error (a directory store writes
  ``<dir>/.tmp/<random>`` then ``os.replace``s it; an object store would complete a multipart upload). Going over
  ``max_bytes`` raises :class:`RequestTooLarge` (413) and leaves nothing behind.
* ``store.reader(key)``: an async iterator of chunks (``None`` if the key does not exist).
* ``await store.delete(key)``, ``await store.size(key)``.

The directory store is :class:`DirectoryBlobStore` (``storage.blob_dir``); :func:`blob_store` gives the one of the
current request's app.

Uploads: the upload routes skip connexion's buffering multipart validator
(``gateway.validation.StreamingUploadValidator``); the handlers validate the parts themselves. connexion's argument
decorator still parses the form before the handler runs (starlette's ``MultiPartParser``: every file part is a
``SpooledTemporaryFile`` that rolls over to disk after 1 MiB), and the handlers copy those parts chunk by chunk into
the blob store. Memory per upload is bounded by ~1 MiB per part.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import IO, Any, Protocol
from urllib.parse import quote

import anyio.to_thread

from gateway.errors import RequestTooLarge

CHUNK_SIZE = 1024 * 1024
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$")


def _valid_key(key: str) -> str:
    if not _KEY.match(key) or ".." in key:
        raise ValueError(f"invalid blob key {key!r}")
    return key


class BlobWriter(Protocol):
    size: int

    async def write(self, chunk: bytes) -> None: ...


class BlobStore(Protocol):
    def writer(self, key: str, *, max_bytes: int | None = None) -> AbstractAsyncContextManager[BlobWriter]:
        """An async context manager yielding a :class:`BlobWriter`; the blob appears under ``key`` on success."""
        ...

    def reader(self, key: str, *, chunk_size: int = CHUNK_SIZE) -> AsyncIterator[bytes] | None: ...

    async def delete(self, key: str) -> None: ...

    async def size(self, key: str) -> int | None: ...


class _FileWriter:
    def __init__(self, handle: IO[bytes], max_bytes: int | None) -> None:
        self.handle = handle
        self.max_bytes = max_bytes
        self.size = 0

    async def write(self, chunk: bytes) -> None:
        if not chunk:
            return
        self.size += len(chunk)
        if self.max_bytes is not None and self.size > self.max_bytes:
            raise RequestTooLarge(f"the upload is too large: the limit is {self.max_bytes} bytes")
        await anyio.to_thread.run_sync(self.handle.write, chunk)


class DirectoryBlobStore:
    """Blobs as files under ``root`` (``root/<last two key characters>/<key>``), written atomically."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, key: str) -> Path:
        key = _valid_key(key)
        return self.root / key[-2:] / key

    @asynccontextmanager
    async def writer(self, key: str, *, max_bytes: int | None = None) -> AsyncIterator[BlobWriter]:
        final = self.path(key)
        tmp_dir = self.root / ".tmp"

        def open_tmp() -> tuple[Path, IO[bytes]]:
            tmp_dir.mkdir(parents=True, exist_ok=True)
            final.parent.mkdir(parents=True, exist_ok=True)
            tmp = tmp_dir / f"{key}.{secrets.token_hex(8)}"
            return tmp, open(tmp, "xb")  # closed by commit() / discard()

        tmp, handle = await anyio.to_thread.run_sync(open_tmp)
        writer = _FileWriter(handle, max_bytes)
        try:
            yield writer

            def commit() -> None:
                handle.flush()
                os.fsync(handle.fileno())
                handle.close()
                os.replace(tmp, final)

            await anyio.to_thread.run_sync(commit)
        except BaseException:
            # synchronously: no await may run in a cancelled task (client gone), and both calls are quick
            handle.close()
            tmp.unlink(missing_ok=True)
            raise

    def reader(self, key: str, *, chunk_size: int = CHUNK_SIZE) -> AsyncIterator[bytes] | None:
        path = self.path(key)
        try:
            handle = open(path, "rb")  # closed by chunks()
        except FileNotFoundError:
            return None

        async def chunks() -> AsyncIterator[bytes]:
            try:
                while True:
                    chunk = await anyio.to_thread.run_sync(handle.read, chunk_size)
                    if not chunk:
                        return
                    yield chunk
            finally:
                handle.close()

        return chunks()

    async def delete(self, key: str) -> None:
        await anyio.to_thread.run_sync(lambda: self.path(key).unlink(missing_ok=True))

    async def size(self, key: str) -> int | None:
        def stat() -> int | None:
            try:
                return self.path(key).stat().st_size
            except FileNotFoundError:
                return None

        return await anyio.to_thread.run_sync(stat)


_STORES: dict[Path, BlobStore] = {}


def blob_store() -> BlobStore:
    """The blob store of the current request's app (``storage.blob_dir``)."""
    from gateway.storage.service import storage_config

    root = storage_config().blob_dir
    store = _STORES.get(root)
    if store is None:
        store = _STORES[root] = DirectoryBlobStore(root)
    return store


async def upload_chunks(source: Any, *, chunk_size: int = CHUNK_SIZE) -> AsyncIterator[bytes]:
    """The contents of an uploaded part (starlette ``UploadFile``), chunk by chunk."""
    await source.seek(0)
    while chunk := await source.read(chunk_size):
        yield chunk


def content_disposition(filename: str, disposition: str = "attachment") -> str:
    """``attachment; filename="<ascii>"; filename*=UTF-8''<percent-encoded>`` (RFC 6266)."""
    ascii_name = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in filename) or "download"
    encoded = quote(filename.encode("utf-8", "replace"), safe="")
    return f"{disposition}; filename=\"{ascii_name}\"; filename*=UTF-8''{encoded}"
