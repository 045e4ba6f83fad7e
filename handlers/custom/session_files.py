"""Handlers for `custom.session_files.*` operations (see spec/openapi.yaml): session attachments are Files API
files (gateway.storage.uploads), so an attachment is also listed, downloadable and deletable under ``/v1/files``."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse, StreamingResponse

from gateway.storage import uploads


async def upload(file: Any = None, **_: Any) -> JSONResponse:
    """POST /api/oauth/file_upload (multipart ``file``) → 201 ``{file_uuid, file_name}``; the uuid is the file id."""
    stored = await uploads.store_part(file)
    return JSONResponse({"file_uuid": stored["id"], "file_name": stored["filename"]}, status_code=201)


async def download(file_uuid: str, **_: Any) -> StreamingResponse:
    """GET /api/oauth/files/{file_uuid}/content: the attachment's bytes."""
    return await uploads.file_response(file_uuid)
