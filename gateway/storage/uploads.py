"""Request-side helpers for uploaded and downloaded files, shared by the Files API and the session attachments
(``/api/oauth/file_upload``, ``/api/oauth/files/{id}/content``): both store and serve the same files."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import UploadFile
from starlette.responses import StreamingResponse

from gateway.errors import InvalidRequest
from gateway.storage import files
from gateway.storage.blobs import blob_store, content_disposition, upload_chunks
from gateway.storage.service import store, workspace


async def store_part(part: Any, *, expires_in_seconds: Any = None) -> dict[str, Any]:
    """A multipart ``file`` part stored as a file (the Files API's metadata object); the part is closed after."""
    if not isinstance(part, UploadFile):
        raise InvalidRequest("file: a file part named 'file' is required (multipart/form-data)")
    filename = part.filename or "file"
    try:
        return await files.create(
            store(),
            blob_store(),
            workspace(),
            upload_chunks(part),
            filename=filename,
            mime_type=files.guess_mime(filename, part.content_type),
            expires_in_seconds=expires_in_seconds,
        )
    finally:
        await part.close()  # the spooled part (a temp file past 1 MiB) is freed now, not at garbage collection


async def file_response(file_id: str) -> StreamingResponse:
    """A stored file's bytes, streamed, with its type, length and an attachment disposition."""
    found = await files.download(store(), blob_store(), workspace(), file_id)
    return StreamingResponse(
        found.chunks,
        media_type=found.mime_type,
        headers={"content-length": str(found.size), "content-disposition": content_disposition(found.filename)},
    )
