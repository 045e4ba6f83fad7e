"""User profiles through the official SDK (strict response validation) on SQLite and PostgreSQL: CRUD, list orders
over several pages, single-use links stored hashed, Google data controls, tenant isolation."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlparse

import anthropic
import pytest

from gateway.storage import user_profiles
from gateway.storage.config import parse_storage
from gateway.storage.db import create_engine
from gateway.storage.store import Store
from tests.storage.conftest import KEY_B, http, pages_of, sdk


def _store(database: dict[str, Any]) -> Store:
    """A second Store on the gateway's database (to look at what is stored and to call module functions)."""
    return Store(create_engine(parse_storage({"storage": database})))


def test_user_profile_lifecycle(gateway: str, database: dict[str, Any]) -> None:
    client = sdk(gateway)
    profile = client.beta.user_profiles.create(external_id="cust-1", name="Acme", metadata={"tier": "gold"})
    assert profile.id.startswith("uprof_") and profile.type == "user_profile"
    assert profile.external_id == "cust-1" and profile.name == "Acme" and profile.metadata == {"tier": "gold"}
    assert profile.access_type == "application" and profile.trust_grants == {}
    assert client.beta.user_profiles.retrieve(profile.id).model_dump() == profile.model_dump()
    # the GA shape is served too (the newer client validates it strictly)
    ga = client.user_profiles.retrieve(profile.id)
    assert ga.enforcement_status == "unrestricted" and ga.enforcement_actions == []
    assert ga.external_user_details.reference_id == "cust-1" and ga.programs.cyber is None

    same_external = client.beta.user_profiles.create(external_id="cust-1", access_type="passthrough")
    assert same_external.external_id == "cust-1" and same_external.access_type == "passthrough"  # not unique

    updated = client.beta.user_profiles.update(
        profile.id,
        metadata={"tier": "", "region": "eu"},
        name="Acme Corp",
        external_user_onboarded_at="2026-01-02T03:04:05Z",
    )
    assert updated.metadata == {"region": "eu"} and updated.name == "Acme Corp" and updated.external_id == "cust-1"
    assert updated.external_user_onboarded_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert updated.updated_at >= profile.updated_at
    with pytest.raises(anthropic.BadRequestError):
        client.beta.user_profiles.update(profile.id, external_user_onboarded_at="yesterday")
    ancient = client.beta.user_profiles.update(same_external.id, external_user_onboarded_at="0901-11-16T10:30:07+01:00")
    assert ancient.external_user_onboarded_at == datetime(901, 11, 16, 9, 30, 7, tzinfo=UTC)

    names = ["delta", "Bravo", None, "charlie"]
    more = [client.beta.user_profiles.create(name=n) for n in names]
    everyone = [profile, same_external, *more]
    pages = pages_of(client.beta.user_profiles.list(limit=2))
    assert [len(p) for p in pages] == [2, 2, 2]
    assert [p.id for page in pages for p in page] == [p.id for p in reversed(everyone)]
    oldest_first = [p.id for page in pages_of(client.beta.user_profiles.list(limit=2, order="asc")) for p in page]
    assert oldest_first == [p.id for p in everyone]
    by_name = [p.name for page in pages_of(client.beta.user_profiles.list(limit=2, order_by="name")) for p in page]
    assert by_name == ["delta", "charlie", "Bravo", "Acme Corp", None, None]
    by_name_asc = [
        p.name for page in pages_of(client.beta.user_profiles.list(limit=2, order_by="name", order="asc")) for p in page
    ]
    assert by_name_asc == ["Acme Corp", "Bravo", "charlie", "delta", None, None]
    with pytest.raises(anthropic.BadRequestError):  # cannot be decoded as a cursor
        client.beta.user_profiles.list(page="page_bogus")
    with pytest.raises(anthropic.NotFoundError):  # a cursor, but not of this list
        client.beta.user_profiles.list(page="page_e30")

    # links: on this gateway, random, stored only hashed, single use
    enrollment = client.beta.user_profiles.create_enrollment_url(profile.id)
    action = client.beta.user_profiles.action_urls.create(profile.id, action={"type": "enroll_end_user"})
    assert action.type == "user_profile_action_url" and enrollment.type == "enrollment_url"
    now = datetime.now(UTC)
    for link in (enrollment, action):
        assert link.url.startswith(gateway + "/v1/user_profiles/links/")
        assert now < link.expires_at <= now + user_profiles.LINK_TTL
    assert enrollment.url != action.url
    token = urlparse(action.url).path.rsplit("/", 1)[1]

    async def links() -> None:
        store = _store(database)
        try:
            async with store.engine.connect() as conn:
                from sqlalchemy import select

                from gateway.storage.tables import resources

                rows = (await conn.execute(select(resources).where(resources.c.type == user_profiles.LINK_TYPE))).all()
            assert len(rows) == 2 and all(token not in str(dict(r.doc)) and token not in r.id for r in rows)
            assert hashlib.sha256(token.encode()).hexdigest() in [r.doc["token_sha256"] for r in rows]
            assert await user_profiles.redeem_link(store, "team-b", token) is None  # another workspace
            results = await asyncio.gather(*[user_profiles.redeem_link(store, "team-a", token) for _ in range(4)])
            assert results.count((profile.id, "enroll_end_user")) == 1 and results.count(None) == 3
            assert await user_profiles.redeem_link(store, "team-a", "not-a-token") is None
        finally:
            await store.engine.dispose()

    asyncio.run(links())

    # Google data controls: defaults, merge per region, retirement
    controls = client.beta.user_profiles.providers.google.data_controls.retrieve(profile.id)
    assert controls.user_profile_id == profile.id and controls.type == "google_managed_data_controls"
    assert controls.cmek.type == "disabled" and controls.storage.type == "disabled"
    assert controls.cmek.retired_keys == [] and controls.bucket_label_value
    dc = client.beta.user_profiles.providers.google.data_controls
    on = dc.update(profile.id, cmek={"type": "enabled", "external_key_ids": {"us": "ekey_1", "eu": "ekey_2"}})
    assert on.cmek.type == "enabled" and on.cmek.external_key_ids == {"us": "ekey_1", "eu": "ekey_2"}
    assert {r: s.type for r, s in on.cmek.status.items()} == {"us": "pending", "eu": "pending"}
    assert on.storage.type == "disabled" and on.bucket_label_value == controls.bucket_label_value
    changed = dc.update(
        profile.id,
        cmek={"type": "enabled", "external_key_ids": {"eu": None, "us": "ekey_3"}},
        storage={"type": "enabled", "buckets": {"us": {"bucket_name": "b1", "project_number": "42"}}},
    )
    assert changed.cmek.external_key_ids == {"us": "ekey_3"}
    assert sorted(k.external_key_id for k in changed.cmek.retired_keys) == ["ekey_1", "ekey_2"]
    assert changed.storage.buckets["us"].bucket_name == "b1" and changed.storage.status["us"].type == "pending"
    off = dc.update(profile.id, storage={"type": "disabled"})
    assert off.storage.type == "disabled" and [b.bucket_name for b in off.storage.retired_buckets] == ["b1"]
    assert off.cmek.external_key_ids == {"us": "ekey_3"}  # left out: unchanged
    assert dc.retrieve(profile.id).model_dump() == off.model_dump()

    deleted = client.beta.user_profiles.delete(profile.id)
    assert deleted.id == profile.id and deleted.type == "user_profile_deleted"
    for call in (
        lambda: client.beta.user_profiles.retrieve(profile.id),
        lambda: client.beta.user_profiles.update(profile.id, name="x"),
        lambda: client.beta.user_profiles.delete(profile.id),
        lambda: client.beta.user_profiles.create_enrollment_url(profile.id),
        lambda: dc.retrieve(profile.id),
    ):
        with pytest.raises(anthropic.NotFoundError):
            call()
    assert profile.id not in {p.id for page in pages_of(client.beta.user_profiles.list()) for p in page}


def test_user_profile_tenant_isolation(gateway: str) -> None:
    alice, bob = sdk(gateway), sdk(gateway, KEY_B)
    profile = alice.beta.user_profiles.create(name="private")
    dc = bob.beta.user_profiles.providers.google.data_controls
    for call in (
        lambda: bob.beta.user_profiles.retrieve(profile.id),
        lambda: bob.beta.user_profiles.update(profile.id, name="mine"),
        lambda: bob.beta.user_profiles.delete(profile.id),
        lambda: bob.beta.user_profiles.create_enrollment_url(profile.id),
        lambda: bob.beta.user_profiles.action_urls.create(profile.id, action={"type": "enroll_end_user"}),
        lambda: dc.retrieve(profile.id),
        lambda: dc.update(profile.id, cmek={"type": "disabled"}),
    ):
        with pytest.raises(anthropic.NotFoundError):
            call()
    assert list(bob.beta.user_profiles.list().data) == []
    bobs = bob.beta.user_profiles.create(name="bobs")
    assert [p.id for p in alice.beta.user_profiles.list().data] == [profile.id]
    assert [p.id for p in bob.beta.user_profiles.list().data] == [bobs.id]
    assert alice.beta.user_profiles.retrieve(profile.id).name == "private"
    with http(gateway) as raw:  # awkward ids never 500
        assert raw.get("/v1/user_profiles/uprof_%00x").status_code == 404
