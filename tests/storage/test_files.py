"""Files through the official SDK (strict response validation) on SQLite and PostgreSQL: multipart upload streamed to
the blob store, metadata, both list paging generations, download, delete, size caps, tenant isolation."""

from __future__ import annotations

import hashlib
import os
import socket
import tracemalloc
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import anthropic
import pytest
from anthropic.pagination import SyncPage
from anthropic.types.beta import BetaFileMetadata

from gateway.settings import settings_from_mapping
from gateway.storage import files as files_module
from tests.storage import conftest
from tests.storage.conftest import KEY_A, KEY_B, blobs_in, http, pages_of, running_gateway, sdk

MiB = 1024 * 1024


def _old_sdk_list(client: anthropic.Anthropic, **params: Any) -> SyncPage[BetaFileMetadata]:
    """What SDK 0.x/1.x did for ``beta.files.list``: ``SyncPage`` with ``after_id``/``before_id``/``limit``."""
    return client.get_api_list(
        "/v1/files", page=SyncPage[BetaFileMetadata], model=BetaFileMetadata, options={"params": params}
    )


def test_file_lifecycle(blob_gateway: str, blob_dir: Path) -> None:
    client = sdk(blob_gateway)
    first = client.beta.files.upload(file=("notes.txt", b"hello files", "text/plain"))
    assert first.id.startswith("file_") and first.type == "file"
    assert (first.filename, first.mime_type, first.size_bytes, first.downloadable) == (
        "notes.txt",
        "text/plain",
        11,
        True,
    )
    assert first.expires_at is None
    guessed = client.files.upload(file=("data.json", b'{"a": 1}'), expires_in_seconds=3600)  # SDK 2.x top level
    assert guessed.mime_type == "application/json" and guessed.size_bytes == 8
    assert guessed.expires_at is not None and guessed.expires_at > guessed.created_at
    contents = [os.urandom(100 + i) for i in range(3)]
    others = [client.beta.files.upload(file=(f"f{i}.bin", data)) for i, data in enumerate(contents)]
    uploaded: list[Any] = [first, guessed, *others]
    assert client.beta.files.retrieve_metadata(first.id).model_dump() == first.model_dump()
    assert blobs_in(blob_dir) == {f.id for f in uploaded}

    newest_first = [f.id for f in reversed(uploaded)]
    pages = pages_of(client.beta.files.list(limit=2))  # SDK 2.x: page cursor
    assert [len(p) for p in pages] == [2, 2, 1]
    assert [f.id for p in pages for f in p] == newest_first
    old = pages_of(_old_sdk_list(client, limit=2))  # older SDKs: after_id
    assert [len(p) for p in old] == [2, 2, 1] and [f.id for p in old for f in p] == newest_first
    backwards = _old_sdk_list(client, limit=2, before_id=first.id)  # the two just newer than `first`, newest first
    assert [f.id for f in backwards.data] == newest_first[2:4] and backwards.has_more is True
    raw = http(blob_gateway).get("/v1/files", params={"limit": 2, "after_id": newest_first[1]}).json()
    assert raw["has_more"] is True and raw["first_id"] == newest_first[2] and raw["last_id"] == newest_first[3]
    assert [f["id"] for f in raw["data"]] == newest_first[2:4]
    selected = client.beta.files.list(ids=[first.id, others[0].id, "file_nope", first.id])
    assert [f.id for f in selected.data] == [others[0].id, first.id] and selected.next_page is None
    assert client.beta.files.list(scope_id="sesn_011CZkZAtmR3yMPDzynEDxu7").data == []
    with pytest.raises(anthropic.BadRequestError):  # not a decodable cursor
        client.beta.files.list(page="page_garbage")

    content = client.beta.files.download(first.id)
    assert content.read() == b"hello files"
    assert content.headers["content-type"].startswith("text/plain")
    assert 'filename="notes.txt"' in content.headers["content-disposition"]
    assert client.beta.files.download(others[2].id).read() == contents[2]

    deleted = client.beta.files.delete(first.id)
    assert deleted.id == first.id and deleted.type == "file_deleted"
    assert first.id not in blobs_in(blob_dir)
    for call in (
        lambda: client.beta.files.retrieve_metadata(first.id),
        lambda: client.beta.files.download(first.id),
        lambda: client.beta.files.delete(first.id),
    ):
        with pytest.raises(anthropic.NotFoundError):
            call()
    assert first.id not in {f.id for f in client.beta.files.list(limit=100).data}
    with pytest.raises(anthropic.NotFoundError):  # an after_id that names nothing in the list
        _old_sdk_list(client, after_id=first.id)


def test_upload_validation(blob_gateway: str) -> None:
    client = http(blob_gateway)
    response = client.post("/v1/files", files={"not_file": ("x.txt", b"x")})
    assert response.status_code == 400 and response.json()["error"]["type"] == "invalid_request_error"
    response = client.post("/v1/files", data={"file": "just text"})
    assert response.status_code in (400, 415)
    response = client.post("/v1/files", files={"file": ("x.txt", b"x")}, data={"expires_in_seconds": "soon"})
    assert response.status_code == 400
    weird = client.post("/v1/files", files={"file": ('nul\x00 "quote" ünï.txt', b"x")})
    assert weird.status_code == 200, weird.text
    download = client.get(f"/v1/files/{weird.json()['id']}/content")
    assert download.status_code == 200 and download.content == b"x"
    assert client.get("/v1/files/file_%00nul").status_code == 404
    expired = client.post("/v1/files", files={"file": ("x.txt", b"x")}, data={"expires_in_seconds": "0"}).json()
    assert expired["expires_at"] == expired["created_at"]
    gone = client.get(f"/v1/files/{expired['id']}/content")
    assert gone.status_code == 404 and "expired" in gone.json()["error"]["message"]


def test_large_upload_streams_and_round_trips(blob_gateway: str, tmp_path: Path) -> None:
    """24 MiB through upload and download: the bytes come back identical, and the process never held the payload
    (Python allocations traced while the client streams the file from disk and hashes the download)."""
    payload = tmp_path / "big.bin"
    digest = hashlib.sha256()
    with payload.open("wb") as out:
        for _ in range(24):
            chunk = os.urandom(MiB)
            digest.update(chunk)
            out.write(chunk)
    client = sdk(blob_gateway)
    tracemalloc.start()
    try:
        with payload.open("rb") as source:
            meta = client.beta.files.upload(file=("big.bin", source, "application/octet-stream"))
        _, upload_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        received = hashlib.sha256()
        with client.beta.files.with_streaming_response.download(meta.id) as response:
            for chunk in response.iter_bytes():
                received.update(chunk)
        _, download_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert meta.size_bytes == 24 * MiB
    assert received.hexdigest() == digest.hexdigest()
    assert upload_peak < 12 * MiB, f"upload peak {upload_peak / MiB:.1f} MiB"
    assert download_peak < 12 * MiB, f"download peak {download_peak / MiB:.1f} MiB"


def _declared_upload(url: str, length: int) -> bytes:
    """Send only the headers of a multipart upload declaring ``length`` bytes; return the raw response."""
    parsed = urlparse(url)
    with socket.create_connection((parsed.hostname, parsed.port), timeout=10) as sock:
        sock.sendall(
            (
                "POST /v1/files HTTP/1.1\r\n"
                f"Host: {parsed.hostname}\r\nx-api-key: {KEY_A}\r\n"
                "Content-Type: multipart/form-data; boundary=xyz\r\n"
                f"Content-Length: {length}\r\n\r\n"
            ).encode()
        )
        received = b""
        while b"\r\n\r\n" not in received or not received.rstrip().endswith(b"}"):
            data = sock.recv(65536)
            if not data:
                break
            received += data
    return received


def _chunked_upload_without_end(url: str, size: int) -> bytes:
    """A chunked multipart upload of ``size`` bytes that is never finished; the raw response."""
    parsed = urlparse(url)
    with socket.create_connection((parsed.hostname, parsed.port), timeout=10) as sock:
        sock.sendall(
            (
                "POST /v1/files HTTP/1.1\r\n"
                f"Host: {parsed.hostname}\r\nx-api-key: {KEY_A}\r\n"
                "Content-Type: multipart/form-data; boundary=xyz\r\n"
                "Transfer-Encoding: chunked\r\n\r\n"
            ).encode()
        )
        head = b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.bin"\r\n\r\n'
        sock.sendall(b"%x\r\n%s\r\n" % (len(head), head))
        block = b"\0" * (256 * 1024)
        try:
            for _ in range(size // len(block)):
                sock.sendall(b"%x\r\n%s\r\n" % (len(block), block))
        except OSError:
            pass  # the server answered and closed first
        received = b""
        while not received.rstrip().endswith(b"}"):
            data = sock.recv(65536)
            if not data:
                break
            received += data
    return received


def test_upload_size_caps(database: dict[str, Any], blob_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The 500 MiB default refuses a declared 500 MiB + 1 body before reading it; a gateway configured with a 2 MiB
    upload limit answers 413 to a bigger SDK upload and aborts a chunked body early; the per-file cap of the Files
    API (here lowered to 1 MiB) answers 413 and leaves no blob behind."""
    real = settings_from_mapping

    def small_limit(doc: Any) -> Any:
        return real({**doc, "gateway": {**doc["gateway"], "max_upload_body_bytes": 2 * MiB}})

    with running_gateway({**database, "blob_dir": str(blob_dir)}) as url:
        response = _declared_upload(url, 500 * MiB + 1)
        assert response.startswith(b"HTTP/1.1 413"), response[:200]
        assert b'"request_too_large"' in response

    monkeypatch.setattr(conftest, "settings_from_mapping", small_limit)
    with running_gateway({**database, "blob_dir": str(blob_dir)}) as url:
        client = sdk(url)
        with pytest.raises(anthropic.APIStatusError) as caught:
            client.beta.files.upload(file=("big.bin", b"\0" * (2 * MiB + 1)))
        assert caught.value.status_code == 413
        assert caught.value.body["error"]["type"] == "request_too_large"  # type: ignore[index]

        # a chunked body that never ends: after 3 MiB the client stops sending and waits; the 413 must come anyway
        response = _chunked_upload_without_end(url, 3 * MiB)
        assert response.startswith(b"HTTP/1.1 413"), response[:200]
        assert b'"request_too_large"' in response

        monkeypatch.setattr(files_module, "MAX_FILE_BYTES", MiB)
        with pytest.raises(anthropic.APIStatusError) as caught:
            client.beta.files.upload(file=("big.bin", b"\0" * (MiB + 1)))
        assert caught.value.status_code == 413
        assert client.beta.files.upload(file=("ok.bin", b"\0" * MiB)).size_bytes == MiB
    assert len(blobs_in(blob_dir)) == 1


def test_file_tenant_isolation(blob_gateway: str) -> None:
    alice, bob = sdk(blob_gateway), sdk(blob_gateway, KEY_B)
    meta = alice.beta.files.upload(file=("secret.txt", b"alice only", "text/plain"))
    for call in (
        lambda: bob.beta.files.retrieve_metadata(meta.id),
        lambda: bob.beta.files.download(meta.id),
        lambda: bob.beta.files.delete(meta.id),
    ):
        with pytest.raises(anthropic.NotFoundError):
            call()
    assert bob.beta.files.list().data == []
    assert bob.beta.files.list(ids=[meta.id]).data == []
    with pytest.raises(anthropic.NotFoundError):
        _old_sdk_list(bob, after_id=meta.id)
    assert [f.id for f in alice.beta.files.list().data] == [meta.id]
    assert alice.beta.files.download(meta.id).read() == b"alice only"


def test_directory_blob_store(tmp_path: Path) -> None:
    """Atomic writes (nothing visible until the writer exits cleanly; a failure or the cap leaves nothing), chunked
    reads, size, delete."""
    import anyio

    from gateway.errors import RequestTooLarge
    from gateway.storage.blobs import DirectoryBlobStore

    store = DirectoryBlobStore(tmp_path / "b")

    async def scenario() -> None:
        async with store.writer("file_01abc") as writer:
            await writer.write(b"x" * 10)
            assert await store.size("file_01abc") is None  # not visible yet
            await writer.write(b"y" * 5)
        assert writer.size == 15 and await store.size("file_01abc") == 15
        chunks = store.reader("file_01abc", chunk_size=4)
        assert chunks is not None
        assert [c async for c in chunks] == [b"xxxx", b"xxxx", b"xxyy", b"yyy"]
        with pytest.raises(RuntimeError):
            async with store.writer("file_01def") as writer:
                await writer.write(b"partial")
                raise RuntimeError("client went away")
        with pytest.raises(RequestTooLarge):
            async with store.writer("file_01ghi", max_bytes=4) as writer:
                await writer.write(b"12345")
        assert await store.size("file_01def") is None and await store.size("file_01ghi") is None
        assert store.reader("file_01def") is None
        await store.delete("file_01abc")
        await store.delete("file_01abc")  # idempotent
        assert await store.size("file_01abc") is None
        with pytest.raises(ValueError):
            store.path("../etc/passwd")

    anyio.run(scenario)
    assert blobs_in(tmp_path / "b") == set()
