"""Memory stores, memories and memory versions through the official SDK (strict response validation) on SQLite and
PostgreSQL: versions on every mutation, path uniqueness (also under concurrency), redaction, archive vs delete,
tenant isolation."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import anthropic
import pytest

from tests.storage.conftest import KEY_B, http, pages_of, sdk


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_memory_store_lifecycle(gateway: str) -> None:
    client = sdk(gateway)
    ms = client.beta.memory_stores
    store = ms.create(name="User Preferences", description="per-user prefs", metadata={"user": "u1", "team": "a"})
    assert store.id.startswith("memstore_") and store.type == "memory_store" and store.archived_at is None
    assert store.name == "User Preferences" and store.description == "per-user prefs"
    assert store.metadata == {"user": "u1", "team": "a"}
    assert ms.retrieve(store.id).model_dump() == store.model_dump()
    plain = ms.create(name="plain")
    for bad in (
        {"name": ""},
        {"name": "a\x01b"},
        {"name": "x" * 256},
        {"name": "ok", "description": "d" * 1025},
        {"name": "ok", "metadata": {f"k{i}": "v" for i in range(17)}},
    ):
        with pytest.raises(anthropic.BadRequestError):
            ms.create(**bad)
    assert plain.description == "" and plain.metadata == {}

    updated = ms.update(store.id, name="Prefs", description="", metadata={"team": None, "x": "1"})
    assert updated.name == "Prefs" and updated.description == "" and updated.metadata == {"user": "u1", "x": "1"}
    assert updated.updated_at >= store.updated_at and updated.created_at == store.created_at
    assert ms.update(store.id, name=None).name == "Prefs"  # null name keeps it

    more = [ms.create(name=f"s{i}") for i in range(4)]
    pages = pages_of(ms.list(limit=2))
    assert [len(p) for p in pages] == [2, 2, 2]
    assert [s.id for p in pages for s in p] == [s.id for s in reversed([store, plain, *more])]
    gte = ms.list(created_at_gte=more[0].created_at.isoformat(), limit=100)
    assert {s.id for s in gte.data} == {s.id for s in more}

    mem = ms.memories.create(store.id, path="/a.md", content="alpha")
    archived = ms.archive(store.id)
    assert archived.archived_at is not None and archived.name == "Prefs"
    assert ms.archive(store.id).archived_at == archived.archived_at  # idempotent
    with pytest.raises(anthropic.BadRequestError):
        ms.update(store.id, name="again")
    with pytest.raises(anthropic.BadRequestError):
        ms.memories.create(store.id, path="/b.md", content="beta")
    with pytest.raises(anthropic.BadRequestError):
        ms.memories.update(mem.id, memory_store_id=store.id, content="changed")
    # still readable; its memories can still be deleted and their versions redacted
    assert ms.memories.retrieve(mem.id, memory_store_id=store.id).content == "alpha"
    listed = {s.id for p in pages_of(ms.list(limit=2)) for s in p}
    assert store.id not in listed and len(listed) == 5
    assert store.id in {s.id for s in ms.list(include_archived=True, limit=100).data}

    deleted = ms.delete(store.id)
    assert deleted.id == store.id and deleted.type == "memory_store_deleted"
    for call in (
        lambda: ms.retrieve(store.id),
        lambda: ms.delete(store.id),
        lambda: ms.memories.retrieve(mem.id, memory_store_id=store.id),
        lambda: ms.memories.list(store.id),
        lambda: ms.memory_versions.list(store.id),
        lambda: ms.memory_versions.retrieve(mem.memory_version_id, memory_store_id=store.id),
    ):
        with pytest.raises(anthropic.NotFoundError):
            call()
    assert store.id not in {s.id for s in ms.list(include_archived=True, limit=100).data}


def test_memories_and_versions(gateway: str) -> None:
    client = sdk(gateway)
    ms = client.beta.memory_stores
    store = ms.create(name="notes")
    mem = ms.memories.create(store.id, path="/projects/foo/notes.md", content="héllo")
    assert mem.id.startswith("mem_") and mem.type == "memory" and mem.memory_store_id == store.id
    assert mem.path == "/projects/foo/notes.md" and mem.content is None  # create defaults to view=basic
    assert mem.content_sha256 == _sha("héllo") and mem.content_size_bytes == len("héllo".encode())
    assert mem.memory_version_id.startswith("memver_")
    full = ms.memories.retrieve(mem.id, memory_store_id=store.id)  # retrieve defaults to view=full
    assert full.content == "héllo" and full.memory_version_id == mem.memory_version_id
    assert ms.memories.retrieve(mem.id, memory_store_id=store.id, view="basic").content is None
    assert ms.memories.create(store.id, path="/empty.md", content="", view="full").content == ""

    with pytest.raises(anthropic.ConflictError) as conflict:
        ms.memories.create(store.id, path="/projects/foo/notes.md", content="other")
    assert mem.id in str(conflict.value)
    for bad in ("no-slash", "/a//b", "/a/../b", "/a/./b", "/trailing/", "/x\ty", "/" + "/".join("s" * 21), "/Åa"):
        with pytest.raises(anthropic.BadRequestError):
            ms.memories.create(store.id, path=bad.replace("Åa", "A\u030aa"), content="x")
    with pytest.raises(anthropic.BadRequestError):
        ms.memories.create(store.id, path="/big.md", content="x" * 102_401)

    # update content: a `modified` version; the memory points at it
    v2 = ms.memories.update(mem.id, memory_store_id=store.id, content="second", view="full")
    assert v2.content == "second" and v2.memory_version_id != mem.memory_version_id and v2.id == mem.id
    assert v2.updated_at > mem.updated_at and v2.created_at == mem.created_at
    # no change: no new version
    same = ms.memories.update(mem.id, memory_store_id=store.id, content="second")
    assert same.memory_version_id == v2.memory_version_id
    # precondition
    with pytest.raises(anthropic.ConflictError):
        ms.memories.update(
            mem.id,
            memory_store_id=store.id,
            content="third",
            precondition={"type": "content_sha256", "content_sha256": _sha("héllo")},
        )
    v3 = ms.memories.update(
        mem.id,
        memory_store_id=store.id,
        content="third",
        precondition={"type": "content_sha256", "content_sha256": _sha("second")},
    )
    assert v3.content_sha256 == _sha("third")
    # rename: id kept, old path free again, a taken path is a 409
    renamed = ms.memories.update(mem.id, memory_store_id=store.id, path="/projects/bar/notes.md")
    assert renamed.id == mem.id and renamed.path == "/projects/bar/notes.md"
    squatter = ms.memories.create(store.id, path="/projects/foo/notes.md", content="new owner")
    with pytest.raises(anthropic.ConflictError):
        ms.memories.update(mem.id, memory_store_id=store.id, path="/projects/foo/notes.md")
    assert ms.memories.retrieve(mem.id, memory_store_id=store.id).path == "/projects/bar/notes.md"

    # list: path order, prefix, depth roll-up, 3 pages of 2
    for name in ("a", "b", "c"):
        ms.memories.create(store.id, path=f"/projects/foo/{name}/deep.md", content=name)
    everything = pages_of(ms.memories.list(store.id, limit=2))
    paths = [m.path for p in everything for m in p]
    assert [len(p) for p in everything] == [2, 2, 2]
    assert paths == sorted(paths) and len(paths) == 6 and all(m.content is None for p in everything for m in p)
    foo = pages_of(ms.memories.list(store.id, path_prefix="/projects/foo/", depth=1, limit=2))
    assert [len(p) for p in foo] == [2, 2]
    assert [(m.type, m.path) for p in foo for m in p] == [
        ("memory_prefix", "/projects/foo/a/"),
        ("memory_prefix", "/projects/foo/b/"),
        ("memory_prefix", "/projects/foo/c/"),
        ("memory", "/projects/foo/notes.md"),
    ]
    top = ms.memories.list(store.id, depth=1, view="full")
    assert [(m.type, m.path) for m in top.data] == [("memory", "/empty.md"), ("memory_prefix", "/projects/")]
    first = top.data[0]
    assert first.type == "memory" and first.content == ""
    assert [m.path for m in ms.memories.list(store.id, path_prefix="/projects/bar/").data] == [renamed.path]
    with pytest.raises(anthropic.BadRequestError):
        ms.memories.list(store.id, path_prefix="/projects")

    # delete: conditional, then 404, and a `deleted` version
    with pytest.raises(anthropic.ConflictError):
        ms.memories.delete(mem.id, memory_store_id=store.id, expected_content_sha256=_sha("second"))
    gone = ms.memories.delete(mem.id, memory_store_id=store.id, expected_content_sha256=_sha("third"))
    assert gone.id == mem.id and gone.type == "memory_deleted"
    with pytest.raises(anthropic.NotFoundError):
        ms.memories.retrieve(mem.id, memory_store_id=store.id)
    with pytest.raises(anthropic.NotFoundError):
        ms.memories.delete(mem.id, memory_store_id=store.id)
    assert ms.memories.create(store.id, path="/projects/bar/notes.md", content="reborn").id != mem.id

    # versions of that memory: newest first, one per mutation, 3 pages of 2 (created, 3 x modified, deleted)
    history = pages_of(ms.memory_versions.list(store.id, memory_id=mem.id, limit=2))
    assert [len(p) for p in history] == [2, 2, 1]
    versions = [v for p in history for v in p]
    assert [v.operation for v in versions] == ["deleted", "modified", "modified", "modified", "created"]
    assert [v.path for v in versions] == [
        "/projects/bar/notes.md",
        "/projects/bar/notes.md",
        "/projects/foo/notes.md",
        "/projects/foo/notes.md",
        "/projects/foo/notes.md",
    ]
    assert versions[-1].id == mem.memory_version_id and versions[-2].id == v2.memory_version_id
    assert all(v.content is None for v in versions)  # list defaults to view=basic
    assert [v.content_sha256 for v in versions] == [None, _sha("third"), _sha("third"), _sha("second"), _sha("héllo")]
    assert versions[0].content_size_bytes is None and versions[-1].content_size_bytes == len("héllo".encode())
    assert all(v.created_by is not None and v.created_by.type == "api_actor" for v in versions)
    assert all(v.memory_id == mem.id and v.memory_store_id == store.id for v in versions)
    created_at = [v.created_at for v in versions]
    assert created_at == sorted(created_at, reverse=True) and len(set(created_at)) == 5
    full_first = ms.memory_versions.retrieve(mem.memory_version_id, memory_store_id=store.id)
    assert full_first.content == "héllo" and full_first.operation == "created" and full_first.redacted_at is None
    assert ms.memory_versions.retrieve(mem.memory_version_id, memory_store_id=store.id, view="basic").content is None
    listed_full = ms.memory_versions.list(store.id, memory_id=mem.id, view="full", limit=100)
    assert [v.content for v in listed_full.data] == [None, "third", "third", "second", "héllo"]
    assert len(listed_full.data) == 5
    deletions = ms.memory_versions.list(store.id, operation="deleted")
    assert [v.memory_id for v in deletions.data] == [mem.id]
    actor = versions[0].created_by
    assert actor is not None and actor.type == "api_actor"
    key_id = actor.api_key_id
    assert key_id == "apikey_alice"  # the gateway key's name
    assert len(ms.memory_versions.list(store.id, api_key_id=key_id, limit=100).data) == 11
    assert ms.memory_versions.list(store.id, api_key_id="apikey_nobody").data == []
    assert ms.memory_versions.list(store.id, session_id="sesn_x").data == []
    all_versions = pages_of(ms.memory_versions.list(store.id, limit=5))
    assert [len(p) for p in all_versions] == [5, 5, 1]

    # redact: content/path/sha/size blanked for good, actor and timestamps kept; never the live head
    live = ms.memories.retrieve(squatter.id, memory_store_id=store.id)
    with pytest.raises(anthropic.ConflictError):
        ms.memory_versions.redact(live.memory_version_id, memory_store_id=store.id)
    redacted = ms.memory_versions.redact(mem.memory_version_id, memory_store_id=store.id)
    assert redacted.id == mem.memory_version_id and redacted.redacted_at is not None
    assert redacted.content is None and redacted.path is None
    assert redacted.content_sha256 is None and redacted.content_size_bytes is None
    assert redacted.redacted_by is not None and redacted.redacted_by.type == "api_actor"
    assert redacted.created_by == full_first.created_by and redacted.created_at == full_first.created_at
    again = ms.memory_versions.retrieve(mem.memory_version_id, memory_store_id=store.id, view="full")
    assert again.content is None and again.path is None and again.redacted_at == redacted.redacted_at
    assert (
        ms.memory_versions.redact(mem.memory_version_id, memory_store_id=store.id).redacted_at == redacted.redacted_at
    )
    assert ms.memory_versions.list(store.id, memory_id=mem.id, limit=100).data[-1].redacted_at is not None
    # the deleted memory's history still works after the redaction; a redacted row never regains content
    raw = http(gateway).get(f"/v1/memory_stores/{store.id}/memory_versions/{mem.memory_version_id}?view=full")
    assert raw.status_code == 200 and "héllo" not in raw.text

    # an archived store: memories can be deleted, versions redacted
    ms.archive(store.id)
    assert ms.memory_versions.redact(v2.memory_version_id, memory_store_id=store.id).redacted_at is not None
    assert ms.memories.delete(squatter.id, memory_store_id=store.id).type == "memory_deleted"


def test_awkward_memory_input(gateway: str) -> None:
    client = http(gateway)
    store = sdk(gateway).beta.memory_stores.create(name="awkward")
    base = f"/v1/memory_stores/{store.id}"
    for raw in (
        '{"path": "/nul\\u0000.md", "content": "x"}',
        '{"path": "/fine.md", "content": "\\ud800"}',
    ):
        res = client.post(f"{base}/memories", content=raw, headers={"content-type": "application/json"})
        assert res.status_code == 400, (raw, res.text)
    res = client.post(f"{base}/memories", json={"path": "/nul.md", "content": "a\u0000b"})
    assert res.status_code == 200, res.text
    assert client.get(f"{base}/memories/{res.json()['id']}").json()["content"] == "a\u0000b"
    res = client.post(f"{base}/memories", json={"path": "/ok.md", "content": None})
    assert res.status_code == 200 and res.json()["content_size_bytes"] == 0
    for url in (
        f"{base}/memories/mem_%00x",
        f"{base}/memory_versions/memver_%00x",
        f"{base}/memory_versions?memory_id=mem_%00x&limit=100000",
        f"{base}/memory_versions?page=garbage",
        f"{base}/memories?page=page_e30&limit=-5",
        f"{base}/memories?depth=-1",
        "/v1/memory_stores/memstore_%00/memories",
        f"{base}/memory_versions?created_at[gte]=yesterday",
    ):
        res = client.get(url)
        assert res.status_code in (200, 400, 404), (url, res.status_code, res.text)
    assert (
        client.get(f"{base}/memory_versions?created_at[gte]=yesterday").status_code == 400
    )  # issue 17: no silent empty


def test_concurrent_creates_at_one_path(gateway: str) -> None:
    ms = sdk(gateway).beta.memory_stores
    store = ms.create(name="race")

    def attempt(i: int) -> str:
        try:
            ms.memories.create(store.id, path="/same.md", content=f"writer {i}")
            return "ok"
        except anthropic.ConflictError:
            return "conflict"

    with ThreadPoolExecutor(max_workers=6) as pool:
        outcomes = list(pool.map(attempt, range(6)))
    assert sorted(outcomes) == ["conflict"] * 5 + ["ok"]
    memories = ms.memories.list(store.id).data
    assert len(memories) == 1
    assert len(ms.memory_versions.list(store.id).data) == 1


def test_memory_tenant_isolation(gateway: str) -> None:
    alice, bob = sdk(gateway).beta.memory_stores, sdk(gateway, KEY_B).beta.memory_stores
    store = alice.create(name="private")
    mem = alice.memories.create(store.id, path="/secret.md", content="s3cret")
    ver = mem.memory_version_id
    for call in (
        lambda: bob.retrieve(store.id),
        lambda: bob.update(store.id, name="mine"),
        lambda: bob.archive(store.id),
        lambda: bob.delete(store.id),
        lambda: bob.memories.list(store.id),
        lambda: bob.memories.create(store.id, path="/x.md", content="x"),
        lambda: bob.memories.retrieve(mem.id, memory_store_id=store.id),
        lambda: bob.memories.update(mem.id, memory_store_id=store.id, content="mine"),
        lambda: bob.memories.delete(mem.id, memory_store_id=store.id),
        lambda: bob.memory_versions.list(store.id),
        lambda: bob.memory_versions.retrieve(ver, memory_store_id=store.id),
        lambda: bob.memory_versions.redact(ver, memory_store_id=store.id),
    ):
        with pytest.raises(anthropic.NotFoundError):
            call()
    assert list(bob.list(include_archived=True).data) == []
    bob_store = bob.create(name="bobs")
    bob_mem = bob.memories.create(bob_store.id, path="/secret.md", content="other")  # same path, other store
    # a memory addressed through another store of the same workspace is not found either
    other = alice.create(name="other")
    with pytest.raises(anthropic.NotFoundError):
        alice.memories.retrieve(mem.id, memory_store_id=other.id)
    with pytest.raises(anthropic.NotFoundError):
        alice.memory_versions.retrieve(ver, memory_store_id=other.id)
    with pytest.raises(anthropic.NotFoundError):
        alice.memories.retrieve(bob_mem.id, memory_store_id=bob_store.id)
    assert {s.id for s in alice.list().data} == {store.id, other.id}
    assert [s.id for s in bob.list().data] == [bob_store.id]
    assert alice.memories.retrieve(mem.id, memory_store_id=store.id).content == "s3cret"
    assert alice.memory_versions.retrieve(ver, memory_store_id=store.id).redacted_at is None


async def _rows_under(storage: dict[str, Any], parent_id: str) -> int:
    import sqlalchemy as sa

    from gateway.storage.config import parse_storage
    from gateway.storage.db import create_engine
    from gateway.storage.tables import resources

    engine = create_engine(parse_storage({"storage": storage}))
    try:
        async with engine.connect() as conn:
            query = sa.select(sa.func.count()).select_from(resources).where(resources.c.parent_id == parent_id)
            return int(await conn.scalar(query) or 0)
    finally:
        await engine.dispose()


def test_store_delete_races_memory_writes(database: dict[str, Any]) -> None:
    """Memory creates racing the deletion of their store: each create either lands before the delete (and is removed
    with the store) or answers 404; nothing is left behind under the deleted store's id."""
    import asyncio

    from tests.storage.conftest import running_gateway

    with running_gateway(database) as url:
        ms = sdk(url).beta.memory_stores
        for _round in range(2):
            store = ms.create(name="doomed")
            ms.memories.create(store.id, path="/seed.md", content="seed")

            def write(i: int) -> str:
                try:
                    ms.memories.create(store.id, path=f"/m{i}.md", content="x")  # noqa: B023
                    return "ok"
                except anthropic.NotFoundError:
                    return "gone"

            with ThreadPoolExecutor(max_workers=7) as pool:
                writes = [pool.submit(write, i) for i in range(6)]
                deleted = pool.submit(ms.delete, store.id)
                outcomes = [w.result() for w in writes]
            assert deleted.result().type == "memory_store_deleted"
            assert set(outcomes) <= {"ok", "gone"}
            assert asyncio.run(_rows_under(database, store.id)) == 0


def test_nul_in_content_does_not_break_filtered_lists(gateway: str) -> None:
    """PostgreSQL's JSON operators refuse documents holding ``\\u0000``: lists filtered on a document field must not
    turn such a document into a 500 for the whole store."""
    client = http(gateway)
    store = client.post("/v1/memory_stores", json={"name": "nul"}).json()["id"]
    created = client.post(f"/v1/memory_stores/{store}/memories", json={"path": "/n.md", "content": "a\u0000b"})
    assert created.status_code == 200, created.text
    memory = created.json()["id"]
    other = client.post(f"/v1/memory_stores/{store}/memories", json={"path": "/o.md", "content": "plain"}).json()["id"]
    for memory_id in (memory, other):
        listed = client.get(f"/v1/memory_stores/{store}/memory_versions", params={"memory_id": memory_id})
        assert listed.status_code == 200, listed.text
        assert [v["memory_id"] for v in listed.json()["data"]] == [memory_id]
    by_operation = client.get(f"/v1/memory_stores/{store}/memory_versions", params={"operation": "created"})
    assert by_operation.status_code == 200 and len(by_operation.json()["data"]) == 2
    assert client.get(f"/v1/memory_stores/{store}/memories/{memory}").json()["content"] == "a\u0000b"
