"""Handlers for `custom.skill_versions.*` operations (see spec/openapi.yaml); semantics: gateway.storage.skills."""

from __future__ import annotations

from typing import Any

from starlette.responses import StreamingResponse

from gateway.storage import skills
from gateway.storage.blobs import blob_store, content_disposition
from gateway.storage.service import store, workspace


async def list(skill_id: str, limit: int | None = None, page: str | None = None, **_: Any) -> dict[str, Any]:
    """GET /v1/skills/{skill_id}/versions"""
    return await skills.list_versions(store(), workspace(), skill_id, limit=limit, page_cursor=page)


async def create(skill_id: str, files: Any = None, **_: Any) -> dict[str, Any]:
    """POST /v1/skills/{skill_id}/versions (multipart: ``files[]`` parts)"""
    parts = skills.parts_of(files)
    try:
        return await skills.create_version(store(), blob_store(), workspace(), skill_id, parts)
    finally:
        await skills.close_parts(parts)


async def retrieve(skill_id: str, version: str, **_: Any) -> dict[str, Any]:
    """GET /v1/skills/{skill_id}/versions/{version}"""
    return await skills.retrieve_version(store(), workspace(), skill_id, version)


async def delete(skill_id: str, version: str, **_: Any) -> dict[str, Any]:
    """DELETE /v1/skills/{skill_id}/versions/{version}"""
    return await skills.delete_version(store(), blob_store(), workspace(), skill_id, version)


async def download(skill_id: str, version: str, **_: Any) -> StreamingResponse:
    """GET /v1/skills/{skill_id}/versions/{version}/content (a zip archive)"""
    found = await skills.download_version(store(), blob_store(), workspace(), skill_id, version)
    return StreamingResponse(
        found.chunks, media_type="application/zip", headers={"content-disposition": content_disposition(found.filename)}
    )
