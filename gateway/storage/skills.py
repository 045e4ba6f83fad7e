"""Skills (``/v1/skills``) and their immutable versions (``/v1/skills/{skill_id}/versions``).

An upload is a skill directory: ``files[]`` parts whose filenames carry their relative paths, all under one top-level
directory (or all at the root) with a ``SKILL.md`` at its top. ``SKILL.md`` starts with YAML front matter giving
``name`` (kebab-case, at most 64 characters; default: the directory's name) and ``description``. Each version's files
are stored as one zip blob (entries ``<name>/<relative path>``), which ``download`` returns.

Shapes follow SDK 2.x: a skill is ``{id, type, display_name, latest_version_id, source: {type}, created_at,
updated_at}``; a version ``{id (skillver_…), type, skill_id, name, description, created_at}``. Older clients get
their fields too (``display_title``, ``latest_version``; a version's ``version``, an epoch-microseconds string, and
``directory``), and a version is addressed by its id, by that epoch string, or by ``latest``.

Delete: a skill that still has versions is refused (400, as the API documents: delete its versions first). The name
of a skill is fixed by its first upload; a later version must resolve to the same name (400 otherwise).
"""

from __future__ import annotations

import re
import shutil
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import Any, cast

import anyio.from_thread
import anyio.to_thread
import yaml

from gateway.errors import InvalidRequest, NotFound
from gateway.storage.blobs import CHUNK_SIZE, BlobStore, BlobWriter
from gateway.storage.files import position_page
from gateway.storage.pagination import page as cursor_page
from gateway.storage.resource import Kind, timestamps
from gateway.storage.store import Record, Store, rfc3339, utcnow, valid_id
from gateway.storage.tables import resources

SKILL = Kind("skill", "skill")
VERSION = Kind("skill_version", "skillver", label="skill version")
SKILL_MD = "SKILL.md"
MAX_SKILL_MD_BYTES = 1024 * 1024
MAX_NAME = 64
MAX_DESCRIPTION = 1024
MAX_DISPLAY_NAME = 255
_NAME = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_EPOCH = re.compile(r"^[0-9]{1,20}$")


# --- the uploaded directory -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SkillUpload:
    name: str
    description: str
    directory: str
    parts: list[tuple[str, Any]]  # (path relative to the skill directory, starlette UploadFile)


def _relative_path(filename: str | None) -> list[str]:
    if not filename:
        raise InvalidRequest("files[]: every file needs a filename (its path inside the skill directory)")
    path = filename.replace("\\", "/")
    segments = [s for s in path.split("/") if s not in ("", ".")]
    if path.startswith("/") or not segments or any(s == ".." or "\x00" in s for s in segments):
        raise InvalidRequest(f"files[]: {filename!r} is not a relative path inside the skill directory")
    return segments


def front_matter(text: str) -> dict[str, Any]:
    """The YAML front matter of a SKILL.md (``---`` lines around it); 400 when absent or not a mapping."""
    lines = text.lstrip("\ufeff").splitlines()
    if not lines or lines[0].strip() != "---":
        raise InvalidRequest("SKILL.md must start with YAML front matter (a '---' line, name and description, '---')")
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() in ("---", "..."))
    except StopIteration:
        raise InvalidRequest("SKILL.md: the YAML front matter is not closed by a '---' line") from None
    try:
        data = yaml.safe_load("\n".join(lines[1:end]))
    except yaml.YAMLError:
        raise InvalidRequest("SKILL.md: the front matter is not valid YAML") from None
    if not isinstance(data, dict):
        raise InvalidRequest("SKILL.md: the front matter must be a YAML mapping")
    return data


async def read_upload(parts: Sequence[Any]) -> SkillUpload:
    """Check the uploaded directory and read SKILL.md's name and description (400 with the reason otherwise)."""
    if not parts:
        raise InvalidRequest("files[]: upload the skill directory's files (one part per file, SKILL.md included)")
    paths = []
    for part in parts:
        if not hasattr(part, "read"):
            raise InvalidRequest("files[]: every part must be a file")
        paths.append(_relative_path(getattr(part, "filename", None)))
    tops = {p[0] for p in paths if len(p) > 1}
    if tops and (len(tops) > 1 or any(len(p) == 1 for p in paths)):
        raise InvalidRequest("files[]: all files must be inside one top-level directory")
    directory = next(iter(tops)) if tops else ""
    relative = ["/".join(p[1:] if directory else p) for p in paths]
    if len(set(relative)) != len(relative):
        raise InvalidRequest("files[]: the same path was uploaded twice")
    if SKILL_MD not in relative:
        where = f"{directory}/{SKILL_MD}" if directory else SKILL_MD
        raise InvalidRequest(f"files[]: {where} is required at the top of the skill directory")
    skill_md = parts[relative.index(SKILL_MD)]
    await skill_md.seek(0)
    raw = await skill_md.read(MAX_SKILL_MD_BYTES + 1)
    if len(raw) > MAX_SKILL_MD_BYTES:
        raise InvalidRequest(f"SKILL.md: larger than {MAX_SKILL_MD_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequest("SKILL.md: not UTF-8 text") from None
    meta = front_matter(text)
    name = meta.get("name", directory or None)
    if not isinstance(name, str) or not name:
        raise InvalidRequest("SKILL.md: the front matter needs a name (or upload the files inside a directory)")
    if len(name) > MAX_NAME or not _NAME.match(name):
        raise InvalidRequest(
            f"SKILL.md: name {name!r} must be lowercase letters, digits and hyphens, at most {MAX_NAME} characters"
        )
    description = meta.get("description")
    if not isinstance(description, str) or not description.strip():
        raise InvalidRequest("SKILL.md: the front matter needs a description")
    if len(description) > MAX_DESCRIPTION:
        raise InvalidRequest(f"SKILL.md: description longer than {MAX_DESCRIPTION} characters")
    return SkillUpload(name, description, directory or name, list(zip(relative, parts, strict=True)))


class _ThreadWriter:
    """A write-only file object for zipfile (in a worker thread) that forwards to an async BlobWriter."""

    def __init__(self, writer: BlobWriter) -> None:
        self.writer = writer

    def write(self, data: bytes) -> int:
        anyio.from_thread.run(self.writer.write, bytes(data))
        return len(data)

    def flush(self) -> None:
        return None


async def write_zip(blobs: BlobStore, key: str, upload: SkillUpload) -> int:
    """Stream the uploaded files as one zip (``<name>/<path>`` entries) into blob ``key``; its size."""

    async def build(writer: BlobWriter) -> None:
        def run() -> None:
            with zipfile.ZipFile(cast(Any, _ThreadWriter(writer)), "w", zipfile.ZIP_DEFLATED) as archive:
                for path, part in sorted(upload.parts, key=lambda item: item[0]):
                    source = part.file  # the spooled upload (memory up to 1 MiB, then a temp file)
                    source.seek(0)
                    with archive.open(f"{upload.name}/{path}", "w", force_zip64=True) as entry:
                        shutil.copyfileobj(source, entry, CHUNK_SIZE)

        await anyio.to_thread.run_sync(run)

    async with blobs.writer(key) as writer:
        await build(writer)
    return int(writer.size)


# --- responses ------------------------------------------------------------------------------------------------------
def skill_response(record: Record) -> dict[str, Any]:
    doc = record.doc
    out = timestamps(record, archived=False)
    out.update(
        {
            "display_name": doc["display_name"],
            "latest_version_id": doc.get("latest_version_id") or "",
            "source": {"type": "custom"},
            "display_title": doc["display_name"],
            "latest_version": doc.get("latest_version"),
        }
    )
    return out


def version_response(record: Record) -> dict[str, Any]:
    doc = record.doc
    return {
        "id": record.id,
        "type": "skill_version",
        "skill_id": record.parent_id,
        "name": doc["name"],
        "description": doc["description"],
        "created_at": rfc3339(record.created_at),
        "version": doc["version"],
        "directory": doc["directory"],
    }


def _epoch(previous: str | None) -> str:
    now = int(utcnow().replace(tzinfo=UTC).timestamp() * 1_000_000)
    if previous and previous.isdigit():
        now = max(now, int(previous) + 1)
    return str(now)


# --- operations -----------------------------------------------------------------------------------------------------
async def create_skill(
    store: Store, blobs: BlobStore, workspace: str, parts: Sequence[Any], display_name: str | None
) -> dict[str, Any]:
    upload = await read_upload(parts)
    title = display_name if isinstance(display_name, str) and display_name.strip() else upload.name
    if "\n" in title or "\r" in title:
        raise InvalidRequest("display_name: must be a single line")
    title = title[:MAX_DISPLAY_NAME]
    skill_id, version_id, epoch = SKILL.new_id(), VERSION.new_id(), _epoch(None)
    await write_zip(blobs, version_id, upload)
    doc = {"display_name": title, "name": upload.name, "latest_version_id": version_id, "latest_version": epoch}
    try:
        skill = await store.create(workspace, SKILL.type, skill_id, doc)
        await store.create(workspace, VERSION.type, version_id, _version_doc(upload, epoch), parent_id=skill_id)
    except BaseException:
        await store.delete(workspace, SKILL.type, skill_id)
        await blobs.delete(version_id)
        raise
    return skill_response(skill)


def _version_doc(upload: SkillUpload, epoch: str) -> dict[str, Any]:
    return {
        "name": upload.name,
        "description": upload.description,
        "directory": upload.directory,
        "version": epoch,
    }


async def retrieve_skill(store: Store, workspace: str, skill_id: str) -> dict[str, Any]:
    return skill_response(await SKILL.get(store, workspace, skill_id))


async def list_skills(
    store: Store, workspace: str, *, limit: int | None, page_cursor: str | None, source: str | None
) -> dict[str, Any]:
    """Newest first. Every skill here is ``custom``: another ``source`` selects nothing."""
    if source not in (None, "", "custom"):
        return cursor_page([], None)
    records, next_page = await store.list_resources(workspace, SKILL.type, limit=limit, page=page_cursor)
    return cursor_page([skill_response(r) for r in records], next_page)


async def delete_skill(store: Store, workspace: str, skill_id: str) -> dict[str, Any]:
    await SKILL.get(store, workspace, skill_id)
    remaining, _ = await store.list_by_id(workspace, VERSION.type, parent_id=skill_id, limit=1)
    if remaining:
        raise InvalidRequest(f"skill {skill_id!r} still has versions; delete them before deleting the skill")
    return await SKILL.delete(store, workspace, skill_id)


async def create_version(
    store: Store, blobs: BlobStore, workspace: str, skill_id: str, parts: Sequence[Any]
) -> dict[str, Any]:
    skill = await SKILL.get(store, workspace, skill_id)
    upload = await read_upload(parts)
    if upload.name != skill.doc["name"]:
        raise InvalidRequest(
            f"SKILL.md: name {upload.name!r} differs from the skill's name {skill.doc['name']!r} (fixed at creation)"
        )
    version_id = VERSION.new_id()
    await write_zip(blobs, version_id, upload)
    try:
        epoch = _epoch(skill.doc.get("latest_version"))
        record = await store.create(
            workspace, VERSION.type, version_id, _version_doc(upload, epoch), parent_id=skill_id
        )

        def point_latest(current: Record) -> dict[str, Any]:
            doc = dict(current.doc)
            if doc.get("latest_version") is None or int(epoch) >= int(doc["latest_version"]):
                doc.update(latest_version_id=version_id, latest_version=epoch)
            return doc

        await SKILL.update(store, workspace, skill_id, point_latest)
    except NotFound:  # the skill was deleted meanwhile
        await store.delete(workspace, VERSION.type, version_id)
        await blobs.delete(version_id)
        raise
    return version_response(record)


async def resolve_version(store: Store, workspace: str, skill_id: str, version: str) -> Record:
    """A version of ``skill_id`` by id, by epoch-microseconds string, or ``latest``; 404 otherwise."""
    skill = await SKILL.get(store, workspace, skill_id)
    if version == "latest":
        latest = skill.doc.get("latest_version_id")
        if latest:
            return await VERSION.get(store, workspace, latest, parent_id=skill_id)
    elif _EPOCH.match(version):
        found, _ = await store.list_by_id(
            workspace,
            VERSION.type,
            parent_id=skill_id,
            limit=1,
            where=[resources.c.doc["version"].as_string() == version],
        )
        if found:
            return found[0]
    elif valid_id(version):
        return await VERSION.get(store, workspace, version, parent_id=skill_id)
    raise VERSION.not_found(version)


async def retrieve_version(store: Store, workspace: str, skill_id: str, version: str) -> dict[str, Any]:
    return version_response(await resolve_version(store, workspace, skill_id, version))


async def list_versions(
    store: Store, workspace: str, skill_id: str, *, limit: int | None, page_cursor: str | None
) -> dict[str, Any]:
    """Newest first (``limit`` up to 1000)."""
    await SKILL.get(store, workspace, skill_id)
    records, next_page = await position_page(
        store,
        workspace,
        VERSION.type,
        kind=f"skill_versions:{skill_id}",
        limit=limit,
        page=page_cursor,
        parent_id=skill_id,
    )
    return cursor_page([version_response(r) for r in records], next_page)


async def delete_version(store: Store, blobs: BlobStore, workspace: str, skill_id: str, version: str) -> dict[str, Any]:
    """Remove the version and its zip; the skill's ``latest`` moves to the newest remaining version."""
    record = await resolve_version(store, workspace, skill_id, version)
    if not await store.delete(workspace, VERSION.type, record.id):
        raise VERSION.not_found(version)
    await blobs.delete(record.id)

    async def repoint(current: Record) -> dict[str, Any]:
        doc = dict(current.doc)
        if doc.get("latest_version_id") == record.id:
            newest, _ = await store.list_by_id(workspace, VERSION.type, parent_id=skill_id, limit=1)
            doc["latest_version_id"] = newest[0].id if newest else ""
            doc["latest_version"] = newest[0].doc["version"] if newest else None
        return doc

    try:
        await SKILL.update(store, workspace, skill_id, repoint)
    except NotFound:
        pass
    return {"id": record.id, "type": "skill_version_deleted"}


@dataclass(frozen=True)
class Archive:
    chunks: Any
    filename: str


async def download_version(store: Store, blobs: BlobStore, workspace: str, skill_id: str, version: str) -> Archive:
    record = await resolve_version(store, workspace, skill_id, version)
    chunks = blobs.reader(record.id)
    if chunks is None:
        raise NotFound(f"the archive of skill version {record.id!r} is no longer available")
    return Archive(chunks, f"{record.doc['name']}.zip")


def parts_of(files: Any) -> list[Any]:
    """The ``files[]`` parts as connexion passes them (a list of ``UploadFile``; one, or none)."""
    if files is None:
        return []
    if isinstance(files, (list, tuple)):
        return list(files)
    return [files]


async def close_parts(parts: Sequence[Any]) -> None:
    """Free the spooled uploads now rather than at garbage collection."""
    for part in parts:
        close = getattr(part, "close", None)
        if close is not None:
            await close()


def display_name_of(body: Mapping[str, Any] | None) -> str | None:
    """``display_name`` (SDK 2.x) or ``display_title`` (older SDKs) of a create form."""
    body = body or {}
    for key in ("display_name", "display_title"):
        value = body.get(key)
        if isinstance(value, str) and value:
            return value
    return None
