"""Handlers for `custom.files.*` operations (see spec/openapi.yaml); semantics: gateway.storage.files."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import StreamingResponse

from gateway.storage import files, uploads
from gateway.storage.blobs import blob_store
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
    return await uploads.store_part(file, expires_in_seconds=(body or {}).get("expires_in_seconds"))


async def retrieve_metadata(file_id: str, **_: Any) -> dict[str, Any]:
    """GET /v1/files/{file_id}"""
    return await files.retrieve(store(), workspace(), file_id)


async def download(file_id: str, **_: Any) -> StreamingResponse:
    """GET /v1/files/{file_id}/content"""
    return await uploads.file_response(file_id)


async def delete(file_id: str, **_: Any) -> dict[str, Any]:
    """DELETE /v1/files/{file_id}"""
    return await files.delete(store(), blob_store(), workspace(), file_id)
