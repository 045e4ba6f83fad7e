"""Skills and skill versions through the official SDK (strict response validation) on SQLite and PostgreSQL:
directory uploads (``files[]`` with SKILL.md), immutable versions stored as zip blobs, delete rules, isolation."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import anthropic
import pytest

from tests.storage.conftest import KEY_B, blobs_in, http, pages_of, sdk

SKILL_MD = b"""---
name: pdf-tools
description: Fill and merge PDF forms.
---
# PDF tools
Use scripts/fill.py.
"""


def skill_files(script: bytes = b"print('fill')\n", skill_md: bytes = SKILL_MD, top: str = "pdf-tools") -> list[Any]:
    return [
        (f"{top}/SKILL.md", skill_md, "text/markdown"),
        (f"{top}/scripts/fill.py", script, "text/x-python"),
        (f"{top}/reference/forms.md", b"# forms\n" * 100),
    ]


def zip_entries(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_skill_lifecycle(blob_gateway: str, blob_dir: Path) -> None:
    client = sdk(blob_gateway)
    skill = client.beta.skills.create(files=skill_files(), display_name="PDF tools")
    assert skill.id.startswith("skill_") and skill.type == "skill" and skill.source.type == "custom"
    assert skill.display_name == "PDF tools" and skill.latest_version_id.startswith("skillver_")
    assert client.beta.skills.retrieve(skill.id).model_dump() == skill.model_dump()
    first = client.beta.skills.versions.retrieve("latest", skill_id=skill.id)
    assert (first.id, first.skill_id, first.name) == (skill.latest_version_id, skill.id, "pdf-tools")
    assert first.description == "Fill and merge PDF forms." and first.type == "skill_version"

    archive = zip_entries(client.beta.skills.versions.download(first.id, skill_id=skill.id).read())
    assert archive == {
        "pdf-tools/SKILL.md": SKILL_MD,
        "pdf-tools/reference/forms.md": b"# forms\n" * 100,
        "pdf-tools/scripts/fill.py": b"print('fill')\n",
    }

    second = client.beta.skills.versions.create(skill.id, files=skill_files(b"print('v2')\n"))
    third = client.skills.versions.create(skill.id, files=skill_files(b"print('v3')\n"))  # SDK 2.x top level
    assert second.id != first.id and third.created_at >= second.created_at >= first.created_at
    assert client.beta.skills.retrieve(skill.id).latest_version_id == third.id
    old_style = http(blob_gateway).get(f"/v1/skills/{skill.id}/versions/{second.model_extra['version']}").json()  # type: ignore[index]
    assert old_style["id"] == second.id and old_style["directory"] == "pdf-tools"
    v2 = zip_entries(client.beta.skills.versions.download(second.id, skill_id=skill.id).read())
    assert v2["pdf-tools/scripts/fill.py"] == b"print('v2')\n"
    # versions are immutable: the first still has its own contents
    assert zip_entries(client.beta.skills.versions.download(first.id, skill_id=skill.id).read()) == archive

    pages = pages_of(client.beta.skills.versions.list(skill.id, limit=1))
    assert [[v.id for v in p] for p in pages] == [[third.id], [second.id], [first.id]]

    with pytest.raises(anthropic.BadRequestError, match="differs from the skill's name"):
        client.beta.skills.versions.create(skill.id, files=skill_files(skill_md=SKILL_MD.replace(b"pdf-", b"doc-")))

    more = [
        client.beta.skills.create(files=[("SKILL.md", b"---\nname: s%d\ndescription: d\n---\n" % i)]) for i in range(4)
    ]
    assert more[0].display_name == "s0"  # derived from the front matter's name
    listed = pages_of(client.beta.skills.list(limit=2))
    assert [len(p) for p in listed] == [2, 2, 1]
    assert [s.id for p in listed for s in p] == [s.id for s in reversed([skill, *more])]
    assert client.beta.skills.list(source="anthropic").data == []

    with pytest.raises(anthropic.BadRequestError, match="delete them"):
        client.beta.skills.delete(skill.id)
    deleted = client.beta.skills.versions.delete(third.id, skill_id=skill.id)
    assert deleted.id == third.id and deleted.type == "skill_version_deleted"
    assert third.id not in blobs_in(blob_dir)
    assert client.beta.skills.retrieve(skill.id).latest_version_id == second.id
    for call in (
        lambda: client.beta.skills.versions.retrieve(third.id, skill_id=skill.id),
        lambda: client.beta.skills.versions.download(third.id, skill_id=skill.id),
        lambda: client.beta.skills.versions.delete(third.id, skill_id=skill.id),
    ):
        with pytest.raises(anthropic.NotFoundError):
            call()
    client.beta.skills.versions.delete(second.id, skill_id=skill.id)
    client.beta.skills.versions.delete("latest", skill_id=skill.id)  # the first
    assert client.beta.skills.versions.list(skill.id).data == []
    assert first.id not in blobs_in(blob_dir)
    gone = client.beta.skills.delete(skill.id)
    assert gone.id == skill.id and gone.type == "skill_deleted"
    with pytest.raises(anthropic.NotFoundError):
        client.beta.skills.retrieve(skill.id)
    with pytest.raises(anthropic.NotFoundError):
        client.beta.skills.versions.list(skill.id)
    assert skill.id not in {s.id for s in client.beta.skills.list(limit=100).data}


UPLOAD_ERRORS = [
    ([("pdf-tools/README.md", b"no skill here")], "SKILL.md is required"),
    ([("a/SKILL.md", SKILL_MD), ("b/x.py", b"")], "one top-level directory"),
    ([("x/SKILL.md", SKILL_MD), ("x/SKILL.md", SKILL_MD)], "uploaded twice"),
    ([("x/SKILL.md", b"no front matter")], "front matter"),
    ([("x/SKILL.md", b"---\nname: [unclosed\ndescription: d\n---\n")], "not valid YAML"),
    ([("x/SKILL.md", b"---\nname: Bad Name\ndescription: d\n---\n")], "lowercase"),
    ([("x/SKILL.md", b"---\nname: ok\n---\n")], "description"),
    ([("../SKILL.md", SKILL_MD)], "relative path"),
]


def test_skill_upload_errors(blob_gateway: str, blob_dir: Path) -> None:
    """Each refused with 400 and a message naming the problem; nothing stored."""
    client = sdk(blob_gateway)
    for files, message in UPLOAD_ERRORS:
        with pytest.raises(anthropic.BadRequestError, match=message):
            client.beta.skills.create(files=files)
    response = http(blob_gateway).post("/v1/skills", data={"display_name": "no files"}, files={"other": ("a", b"")})
    assert response.status_code == 400 and "files[]" in response.json()["error"]["message"]
    assert blobs_in(blob_dir) == set() and client.beta.skills.list().data == []


def test_skill_tenant_isolation(blob_gateway: str) -> None:
    alice, bob = sdk(blob_gateway), sdk(blob_gateway, KEY_B)
    skill = alice.beta.skills.create(files=skill_files())
    version = skill.latest_version_id
    for call in (
        lambda: bob.beta.skills.retrieve(skill.id),
        lambda: bob.beta.skills.delete(skill.id),
        lambda: bob.beta.skills.versions.list(skill.id),
        lambda: bob.beta.skills.versions.create(skill.id, files=skill_files()),
        lambda: bob.beta.skills.versions.retrieve(version, skill_id=skill.id),
        lambda: bob.beta.skills.versions.retrieve("latest", skill_id=skill.id),
        lambda: bob.beta.skills.versions.download(version, skill_id=skill.id),
        lambda: bob.beta.skills.versions.delete(version, skill_id=skill.id),
    ):
        with pytest.raises(anthropic.NotFoundError):
            call()
    assert bob.beta.skills.list().data == []
    other = bob.beta.skills.create(files=skill_files())
    with pytest.raises(anthropic.NotFoundError):  # a version is only reachable under its own skill
        bob.beta.skills.versions.retrieve(version, skill_id=other.id)
    assert [s.id for s in alice.beta.skills.list().data] == [skill.id]
    assert alice.beta.skills.versions.retrieve(version, skill_id=skill.id).id == version
