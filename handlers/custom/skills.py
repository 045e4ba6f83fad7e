"""Handlers for `custom.skills.*` operations (see spec/openapi.yaml); semantics: gateway.storage.skills."""

from __future__ import annotations

from typing import Any

from gateway.storage import skills
from gateway.storage.blobs import blob_store
from gateway.storage.service import store, workspace


async def list(
    limit: int | None = None, page: str | None = None, source: str | None = None, **_: Any
) -> dict[str, Any]:
    """GET /v1/skills"""
    return await skills.list_skills(store(), workspace(), limit=limit, page_cursor=page, source=source)


async def create(body: dict[str, Any] | None = None, files: Any = None, **_: Any) -> dict[str, Any]:
    """POST /v1/skills (multipart: ``files[]`` parts, optional ``display_name``/``display_title``)"""
    parts = skills.parts_of(files)
    try:
        return await skills.create_skill(store(), blob_store(), workspace(), parts, skills.display_name_of(body))
    finally:
        await skills.close_parts(parts)


async def retrieve(skill_id: str, **_: Any) -> dict[str, Any]:
    """GET /v1/skills/{skill_id}"""
    return await skills.retrieve_skill(store(), workspace(), skill_id)


async def delete(skill_id: str, **_: Any) -> dict[str, Any]:
    """DELETE /v1/skills/{skill_id}"""
    return await skills.delete_skill(store(), workspace(), skill_id)
