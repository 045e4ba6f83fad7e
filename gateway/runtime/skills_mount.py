"""The agent's skills unpacked into a cloud session's sandbox, where the system prompt tells the model they are.

Before each model request of a ``cloud`` session (with an executor), every ``custom`` skill of the session's agent
and of its multiagent roster (the first version of a skill id wins, as the SDK's worker does) is unpacked from the
stored skill version's zip into ``<workspace>/skills/<name>/`` (``/workspace/skills/<name>/SKILL.md`` in the
sandbox): the layout the SDK's self-hosted worker uses (``{workdir}/skills/<name>/``,
``anthropic.lib.tools._skills``), so a model finds skills at the same place on both kinds of environment. A marker
file records the version unpacked, so each version is unpacked once per session; a new version replaces the
directory. The system prompt gets a skills section listing each skill's ``SKILL.md`` path and description.

Unpacking is done by the gateway (as root, when it runs as root), so it trusts nothing in the session's directory:
``skills`` or ``skills/<name>`` being a symlink or a file (the model can make them) is removed, not followed; the
archive is extracted in a staging directory outside the sandbox's view with the SDK's rules (no absolute paths, no
``..``, regular files only, modes reduced to 0644/0755, the wrapper directory stripped) and a size cap, then renamed
into place. No process of the session runs while this happens (a session's model requests and tool calls run one
after another), so nothing can swap a path between the check and the rename.

``anthropic`` (pre-built) skills have no files on this gateway and are left out of the prompt; a skill whose version
no longer exists is named in the prompt as unavailable."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import stat
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

import anyio

from gateway.errors import NotFound
from gateway.runtime.executor import Executor
from gateway.storage import skills
from gateway.storage.blobs import BlobStore
from gateway.storage.store import Record, Store

logger = logging.getLogger("gateway.runtime.skills")
DIRECTORY = "skills"
MARKER = ".gw-skill-version"
MAX_UNPACKED_BYTES = 256 * 1024 * 1024


def skill_refs(agent: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The agent's skills, then its roster members' (``anthropic.lib.tools._skills.skills_with_subagents``)."""
    found = list(agent.get("skills") or [])
    multiagent = agent.get("multiagent") or {}
    members: list[Any] = []
    if multiagent.get("type") == "coordinator":
        members = list(multiagent.get("agents") or [])
    elif multiagent.get("type") == "multiagent_20261001":
        for key in ("subagents", "workflows"):
            group = multiagent.get(key) or {}
            if group.get("type") == "enabled":
                members += list(group.get("predefined_agents") or [])
    for member in members:
        if isinstance(member, Mapping) and member.get("type") == "agent":
            found += list(member.get("skills") or [])
    by_id: dict[str, Mapping[str, Any]] = {}
    for ref in found:
        if isinstance(ref, Mapping) and isinstance(ref.get("skill_id"), str):
            by_id.setdefault(ref["skill_id"], ref)
    return list(by_id.values())


def _name(version: Record) -> str:
    name = os.path.basename(str(version.doc.get("name") or "").strip())
    return name if name not in ("", ".", "..") and not name.startswith(".") else str(version.parent_id)


def _member(name: str) -> str | None:
    """A zip entry's path inside the skill (the wrapper directory stripped); None to skip; raises on traversal."""
    parts = [p for p in PurePosixPath(name.replace("\\", "/")).parts if p != "."]
    if name.startswith("/") or ".." in parts:
        raise ValueError(f"refusing archive member {name!r}")
    return "/".join(parts[1:]) or None


def extract(archive: Path, stage: Path) -> None:
    """Unpack a stored skill zip (entries ``<name>/<path>``) into ``stage`` (blocking)."""
    stage.mkdir(mode=0o755)
    with zipfile.ZipFile(archive) as zipped:
        infos = zipped.infolist()
        if sum(i.file_size for i in infos) > MAX_UNPACKED_BYTES:
            raise ValueError(f"the skill unpacks to more than {MAX_UNPACKED_BYTES} bytes")
        for info in infos:
            mode = info.external_attr >> 16 if info.create_system == 3 else 0
            inner = _member(info.filename)
            if inner is None or info.is_dir() or stat.S_IFMT(mode) not in (0, stat.S_IFREG):  # links, devices
                continue
            target = stage / inner
            target.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
            with zipped.open(info) as source, open(target, "wb") as out:
                shutil.copyfileobj(source, out)
            os.chmod(target, 0o755 if mode & 0o111 else 0o644)


def unpacked(dest: Path, version_id: str) -> bool:
    """Whether ``dest`` holds ``version_id`` already (no link on the way; the model can write the marker, so no more
    than an id's length of it is read)."""
    marker = dest / MARKER
    if dest.parent.is_symlink() or dest.is_symlink() or marker.is_symlink() or not marker.is_file():
        return False
    with open(marker, "rb") as held:
        return held.read(128) == version_id.encode()


def _clear(path: Path) -> None:
    """Remove whatever is at ``path`` without following a symlink."""
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)


class SkillsMount:
    def __init__(self, store: Store, blobs: BlobStore, executor: Executor) -> None:
        self.store, self.blobs, self.executor = store, blobs, executor

    async def prepare(self, workspace: str, session: Record) -> str | None:
        """Unpack what is missing; the system prompt's skills section (None: the agent has no custom skill)."""
        refs = [r for r in skill_refs(session.doc.get("agent") or {}) if r.get("type") == "custom"]
        if not refs:
            return None
        root = self.executor.files(session.id)
        visible = self.executor.visible_root(session.id)
        lines = [
            "# Skills",
            f"Skills are unpacked under {visible}/{DIRECTORY}/. Before a task that a skill covers, read its "
            "SKILL.md and follow it; the files beside it are the skill's scripts and references.",
        ]
        for ref in refs:
            skill_id = str(ref["skill_id"])
            try:
                version = await skills.resolve_version(self.store, workspace, skill_id, str(ref.get("version")))
            except NotFound:
                lines.append(f"- {skill_id}: not available (its version no longer exists)")
                continue
            name = _name(version)
            try:
                await self._ensure(root, name, version.id)
            except (OSError, ValueError, zipfile.BadZipFile) as error:
                logger.warning("session %s: skill %s not unpacked: %s", session.id, skill_id, error)
                lines.append(f"- {name}: not available (it could not be unpacked)")
                continue
            description = str(version.doc.get("description") or "").strip()
            lines.append(f"- {visible}/{DIRECTORY}/{name}/SKILL.md" + (f": {description}" if description else ""))
        return "\n".join(lines)

    async def _ensure(self, root: Path, name: str, version_id: str) -> None:
        holder, dest = root / DIRECTORY, root / DIRECTORY / name
        if await asyncio.to_thread(unpacked, dest, version_id):
            return
        chunks = self.blobs.reader(version_id)
        if chunks is None:
            raise ValueError(f"the archive of skill version {version_id} is missing")
        work = Path(tempfile.mkdtemp(prefix=".skill-", dir=root.parent))  # beside files/: not in the sandbox
        try:
            async with await anyio.open_file(work / "archive.zip", "wb") as out:
                async for chunk in chunks:
                    await out.write(chunk)
            await asyncio.to_thread(extract, work / "archive.zip", work / "stage")
            (work / "stage" / MARKER).write_text(version_id)
            if holder.is_symlink() or (holder.exists() and not holder.is_dir()):
                holder.unlink()
            if not holder.exists():
                holder.mkdir(mode=0o755)
                self.executor.own(holder)
            _clear(dest)
            os.rename(work / "stage", dest)
            for path in [dest, *dest.rglob("*")]:
                self.executor.own(path)
        finally:
            shutil.rmtree(work, ignore_errors=True)
