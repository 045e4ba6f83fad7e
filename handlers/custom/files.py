"""Handlers for `custom.files.*` operations (see spec/openapi.yaml); semantics: gateway.storage.files."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import StreamingResponse

from gateway.errors import InvalidRequest
from gateway.storage import files
from gateway.storage.blobs import blob_store, content_disposition, upload_chunks
from gateway.storage.service import store, workspace


async def list(
    limit: int | None = None,
    page: str | None = None,
    after_id: str | None = None,
    before_id: str | None = None,
    ids: Any = None,
    scope_id: str | None = None,
    **_: Any,
) -> dict[str, Any]:
    """GET /v1/files"""
    id_list = _bracketed("ids") or ([ids] if isinstance(ids, str) else ids)
    return await files.list_files(
        store(),
        workspace(),
        limit=limit,
        page=page,
        after_id=after_id,
        before_id=before_id,
        ids=id_list,
        scope_id=scope_id,
    )


def _bracketed(name: str) -> Sequence[str]:
    """``name[]=a&name[]=b`` (the SDK's bracket array format, which connexion does not map to ``name``)."""
    from connexion.context import scope

    return Request(scope).query_params.getlist(f"{name}[]")


async def upload(body: dict[str, Any] | None = None, file: Any = None, **_: Any) -> dict[str, Any]:
    """POST /v1/files (multipart: ``file``, optional ``expires_in_seconds``)"""
    if not isinstance(file, UploadFile):
        raise InvalidRequest("file: a file part named 'file' is required (multipart/form-data)")
    filename = file.filename or "file"
    try:
        return await files.create(
            store(),
            blob_store(),
            workspace(),
            upload_chunks(file),
            filename=filename,
            mime_type=files.guess_mime(filename, file.content_type),
            expires_in_seconds=(body or {}).get("expires_in_seconds"),
        )
    finally:
        await file.close()  # the spooled part (a temp file past 1 MiB) is freed now, not at garbage collection


async def retrieve_metadata(file_id: str, **_: Any) -> dict[str, Any]:
    """GET /v1/files/{file_id}"""
    return await files.retrieve(store(), workspace(), file_id)


async def download(file_id: str, **_: Any) -> StreamingResponse:
    """GET /v1/files/{file_id}/content"""
    found = await files.download(store(), blob_store(), workspace(), file_id)
    return StreamingResponse(
        found.chunks,
        media_type=found.mime_type,
        headers={"content-length": str(found.size), "content-disposition": content_disposition(found.filename)},
    )


async def delete(file_id: str, **_: Any) -> dict[str, Any]:
    """DELETE /v1/files/{file_id}"""
    return await files.delete(store(), blob_store(), workspace(), file_id)
