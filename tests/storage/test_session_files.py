"""Session attachments (``/api/oauth/file_upload``, ``/api/oauth/files/{id}/content``) on SQLite and PostgreSQL:
they are Files API files, so the official SDK's ``files`` resource sees, downloads and deletes them, and a file the
SDK uploaded is fetched through the attachment path. The upload is sent as the CLI's BriefTool sends it (one
multipart ``file`` part, OAuth Bearer)."""

from __future__ import annotations

import os
from pathlib import Path

import anthropic
import httpx
import pytest

from tests.storage.conftest import KEY_A, KEY_B, blobs_in, sdk


def _bearer(url: str, key: str = KEY_A) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"authorization": f"Bearer {key}"}, timeout=30)


def test_attachment_is_a_file_of_the_files_api(blob_gateway: str, blob_dir: Path) -> None:
    data = os.urandom(3000)
    with _bearer(blob_gateway) as client:
        uploaded = client.post("/api/oauth/file_upload", files={"file": ("shot.png", data, "image/png")})
        assert uploaded.status_code == 201
        file_uuid = uploaded.json()["file_uuid"]
        assert uploaded.json()["file_name"] == "shot.png"
        fetched = client.get(f"/api/oauth/files/{file_uuid}/content")
    assert fetched.status_code == 200 and fetched.content == data
    assert fetched.headers["content-type"] == "image/png"
    assert blobs_in(blob_dir) == {file_uuid}
    files = sdk(blob_gateway).beta.files
    meta = files.retrieve_metadata(file_uuid)
    assert (meta.filename, meta.mime_type, meta.size_bytes) == ("shot.png", "image/png", 3000)
    assert files.download(file_uuid).read() == data
    assert file_uuid in [f.id for f in files.list()]
    files.delete(file_uuid)
    with _bearer(blob_gateway) as client:
        assert client.get(f"/api/oauth/files/{file_uuid}/content").status_code == 404
    assert blobs_in(blob_dir) == set()


def test_sdk_upload_is_served_as_an_attachment(gateway: str) -> None:
    made = sdk(gateway).beta.files.upload(file=("notes.md", b"# notes\n", "text/markdown"))
    with _bearer(gateway) as client:
        fetched = client.get(f"/api/oauth/files/{made.id}/content")
    assert fetched.status_code == 200 and fetched.content == b"# notes\n"
    assert fetched.headers["content-disposition"].startswith('attachment; filename="notes.md"')


def test_attachments_are_per_workspace_and_errors_are_anthropic_shaped(gateway: str) -> None:
    with _bearer(gateway) as client:
        file_uuid = client.post("/api/oauth/file_upload", files={"file": ("a.txt", b"a")}).json()["file_uuid"]
        missing = client.post("/api/oauth/file_upload", files={"other": ("a.txt", b"a")})
        unknown = client.get("/api/oauth/files/file_011CUnknownUnknownUnknown/content")
    with _bearer(gateway, KEY_B) as other:
        foreign = other.get(f"/api/oauth/files/{file_uuid}/content")
    assert missing.status_code == 400 and missing.json()["error"]["type"] == "invalid_request_error"
    assert unknown.status_code == 404 and unknown.json()["type"] == "error"
    assert foreign.status_code == 404  # another workspace's key
    with pytest.raises(anthropic.NotFoundError):
        sdk(gateway, KEY_B).beta.files.retrieve_metadata(file_uuid)
