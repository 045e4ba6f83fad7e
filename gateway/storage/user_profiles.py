"""User profiles (``/v1/user_profiles``): the end customers a platform serves, with their Google-managed data
controls and the single-use links (enrollment URL, action URL) handed to the end customer.

Responses carry the union of the shapes the two SDK generations validate: the GA ``UserProfile`` (``access_type``,
``enforcement_actions``, ``enforcement_status``, ``external_user_details``, ``programs``) and the beta
``BetaUserProfile`` (``trust_grants``, the legacy ``external_id`` = ``external_user_details.reference_id`` and
``external_user_onboarded_at`` = ``external_user_details.onboarded_at``). ``external_id`` is not unique (the API
says so), so there is no 409. Delete removes the profile, its data controls and its outstanding links.

**Links (honest):** ``create_enrollment_url`` and ``action_urls.create`` return a URL on *this gateway*
(``<request base URL>/v1/user_profiles/links/<token>``) and an expiry. The token is random, stored only as its
SHA-256, and single-use (:func:`redeem_link` consumes it atomically). No verification portal, trust-enrollment
or program flow exists behind it: the gateway has no Anthropic program to enroll anyone in, ``trust_grants`` and
``programs`` stay empty/null and ``enforcement_status`` stays ``unrestricted``. Nothing serves that path yet.

**Data controls:** one document per profile for provider ``google`` (created with the API's defaults on first
read: both controls ``disabled``, no retired entries, a fixed random ``bucket_label_value``). Updates follow the
API: a control left out stays as it is; ``enabled`` merges per-region keys/buckets (``null`` removes a region,
whose key/bucket is then listed as retired for 30 days); ``disabled`` retires every configured region. No key or
bucket is ever checked against Google, so every configured region reports ``pending`` (never ``active``)."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from gateway.errors import InvalidRequest, NotFound
from gateway.storage.pagination import bad_cursor, decode_cursor, encode_cursor, page, page_size
from gateway.storage.resource import Kind, patch_metadata
from gateway.storage.store import Record, Store, parse_rfc3339, record_of, rfc3339, utcnow, valid_id
from gateway.storage.tables import resources

KIND = Kind("user_profile", "uprof", label="user profile")
CONTROLS_TYPE = "user_profile_google_data_controls"
LINK_TYPE = "user_profile_link"
#: How long an enrollment / action URL stays valid.
LINK_TTL = timedelta(hours=1)
#: How long a retired key or bucket stays listed.
RETIRED_TTL = timedelta(days=30)
LINK_PATH = "/v1/user_profiles/links/"

DETAIL_FIELDS = ("account_status", "country", "email_hash", "entity_type", "name_hash", "onboarded_at", "reference_id")


# --- profiles -------------------------------------------------------------------------------------------------------
def _timestamp(value: Any, field: str) -> str | None:
    """A client timestamp as RFC 3339 UTC (400 if it is not one)."""
    if value is None:
        return None
    parsed = parse_rfc3339(value) if isinstance(value, str) and valid_id(value) else None
    if parsed is None:
        raise InvalidRequest(f"{field}: must be a complete RFC 3339 timestamp")
    # not store.rfc3339: strftime("%Y") does not zero-pad years before 1000 ("901-..." is no RFC 3339 timestamp)
    return parsed.isoformat(timespec="microseconds") + "Z"


def _apply(doc: dict[str, Any], body: Mapping[str, Any]) -> None:
    """Apply create/update fields to ``doc`` (omitted = unchanged; the legacy fields mirror the details)."""
    details = dict(doc["external_user_details"])
    if isinstance(body.get("external_user_details"), Mapping):
        for key, value in body["external_user_details"].items():
            if key in DETAIL_FIELDS:
                details[key] = (
                    _timestamp(value, "external_user_details.onboarded_at") if key == "onboarded_at" else value
                )
    if "external_id" in body:
        details["reference_id"] = body["external_id"]
    if "external_user_onboarded_at" in body:
        details["onboarded_at"] = _timestamp(body["external_user_onboarded_at"], "external_user_onboarded_at")
    doc["external_user_details"] = details
    if "name" in body:
        doc["name"] = body["name"]
    if body.get("access_type") is not None:
        doc["access_type"] = body["access_type"]
    if "metadata" in body:
        doc["metadata"] = patch_metadata(doc.get("metadata"), body.get("metadata"))


def response(record: Record) -> dict[str, Any]:
    doc = record.doc
    details = {key: doc["external_user_details"].get(key) for key in DETAIL_FIELDS}
    return {
        "id": record.id,
        "type": "user_profile",
        "access_type": doc.get("access_type", "application"),
        "name": doc.get("name"),
        "metadata": dict(doc.get("metadata") or {}),
        "external_user_details": details,
        "external_id": details["reference_id"],
        "external_user_onboarded_at": details["onboarded_at"],
        "enforcement_actions": [],
        "enforcement_status": "unrestricted",
        "programs": {},  # no program standing (cyber/efs absent = null)
        "trust_grants": {},
        "created_at": rfc3339(record.created_at),
        "updated_at": rfc3339(record.updated_at),
    }


async def create(store: Store, workspace: str, body: Mapping[str, Any]) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "access_type": "application",
        "name": None,
        "metadata": {},
        "external_user_details": dict.fromkeys(DETAIL_FIELDS),
    }
    _apply(doc, body)
    return response(await KIND.create(store, workspace, doc))


async def retrieve(store: Store, workspace: str, user_profile_id: str) -> dict[str, Any]:
    return response(await KIND.get(store, workspace, user_profile_id))


async def update(store: Store, workspace: str, user_profile_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
    def change(record: Record) -> dict[str, Any]:
        doc = dict(record.doc)
        _apply(doc, body)
        return doc

    return response(await KIND.update(store, workspace, user_profile_id, change))


async def delete(store: Store, workspace: str, user_profile_id: str) -> dict[str, Any]:
    deleted = await KIND.delete(store, workspace, user_profile_id)
    async with store.engine.begin() as conn:  # its data controls and outstanding links go with it
        await conn.execute(
            resources.delete().where(
                resources.c.workspace == workspace,
                resources.c.parent_id == user_profile_id,
                resources.c.type.in_((CONTROLS_TYPE, LINK_TYPE)),
            )
        )
    return deleted


async def list_profiles(
    store: Store,
    workspace: str,
    *,
    limit: int | None,
    page_cursor: str | None,
    order: str | None = None,
    order_by: str | None = None,
) -> dict[str, Any]:
    """Newest first by default; ``order`` asc/desc; ``order_by`` ``created_at`` or ``name`` (ASCII case-insensitive,
    profiles without a name last in either direction). Keyset cursors, so concurrent inserts never repeat items."""
    size = page_size(limit)
    descending = order != "asc"
    by_name = order_by == "name"
    kind = f"user_profiles:{'name' if by_name else 'created_at'}:{'desc' if descending else 'asc'}"
    after = decode_cursor(page_cursor, kind)
    name = sa.func.lower(resources.c.doc["name"].as_string())
    if by_name:
        # (no-name flag, lower(name), id): the flag always ascending so unnamed profiles come last
        keys: list[tuple[Any, bool]] = [
            (sa.case((name.is_(None), 1), else_=0), False),
            (sa.func.coalesce(name, ""), descending),
            (resources.c.id, descending),
        ]
    else:
        keys = [(resources.c.created_at, descending), (resources.c.id, descending)]
    query = sa.select(resources).where(resources.c.workspace == workspace, resources.c.type == KIND.type)
    if after is not None:
        query = query.where(_after(keys, _cursor_values(after, by_name)))
    query = query.order_by(*[(col.desc() if desc else col.asc()) for col, desc in keys]).limit(size + 1)
    async with store.engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    records = [record_of(r) for r in rows[:size]]
    next_page = None
    if len(rows) > size:
        last = records[-1]
        if by_name:
            last_name = last.doc.get("name")
            position: list[Any] = [
                1 if last_name is None else 0,
                "" if last_name is None else str(last_name).lower(),
                last.id,
            ]
        else:
            position = [last.created_at.isoformat(), last.id]
        next_page = encode_cursor(kind, position)
    return page([response(r) for r in records], next_page)


def _cursor_values(after: list[Any], by_name: bool) -> list[Any]:
    if by_name:
        if len(after) != 3 or after[0] not in (0, 1) or not all(isinstance(v, str) and valid_id(v) for v in after[1:]):
            raise bad_cursor()
        return after
    if len(after) != 2 or not all(isinstance(v, str) and valid_id(v) for v in after):
        raise bad_cursor()
    created = parse_rfc3339(after[0])
    if created is None:
        raise bad_cursor()
    return [created, after[1]]


def _after(keys: list[tuple[Any, bool]], values: list[Any]) -> Any:
    """Rows strictly after ``values`` in the lexicographic order ``keys`` (each ascending or descending)."""
    clauses = []
    for i, (col, desc) in enumerate(keys):
        equal = [keys[j][0] == values[j] for j in range(i)]
        beyond = col < values[i] if desc else col > values[i]
        clauses.append(sa.and_(*equal, beyond))
    return sa.or_(*clauses)


# --- enrollment / action links ----------------------------------------------------------------------------------------
def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


async def _link(store: Store, workspace: str, user_profile_id: str, base_url: str, purpose: str) -> tuple[str, str]:
    """Mint a single-use token for the profile; returns (url, expires_at)."""
    await KIND.get(store, workspace, user_profile_id)
    token = secrets.token_urlsafe(32)
    expires = utcnow() + LINK_TTL
    doc = {"token_sha256": _hash(token), "purpose": purpose, "expires_at": rfc3339(expires), "used_at": None}
    await store.create(workspace, LINK_TYPE, "uplnk_" + _hash(token)[:40], doc, parent_id=user_profile_id)
    return base_url.rstrip("/") + LINK_PATH + token, rfc3339(expires) or ""


async def create_enrollment_url(store: Store, workspace: str, user_profile_id: str, base_url: str) -> dict[str, Any]:
    url, expires_at = await _link(store, workspace, user_profile_id, base_url, "enrollment")
    return {"type": "enrollment_url", "url": url, "expires_at": expires_at}


async def create_action_url(
    store: Store, workspace: str, user_profile_id: str, base_url: str, body: Mapping[str, Any]
) -> dict[str, Any]:
    action = body.get("action")
    purpose = str(action.get("type")) if isinstance(action, Mapping) else "enroll_end_user"
    url, expires_at = await _link(store, workspace, user_profile_id, base_url, purpose)
    return {"type": "user_profile_action_url", "url": url, "expires_at": expires_at}


async def redeem_link(store: Store, workspace: str, token: str) -> tuple[str, str] | None:
    """Consume a link token once: (user_profile_id, purpose), or None if it is unknown, expired or already used.
    (For whatever route eventually serves the links; concurrent redemptions: exactly one wins.)"""
    link_id = "uplnk_" + _hash(token)[:40]
    record = await store.get(workspace, LINK_TYPE, link_id)
    if record is None or record.doc.get("token_sha256") != _hash(token):
        return None
    won = False

    async def mutate(current: Record) -> Mapping[str, Any]:
        nonlocal won
        expires = parse_rfc3339(str(current.doc.get("expires_at")))
        if current.doc.get("used_at") is not None or expires is None or expires <= utcnow():
            won = False
            return current.doc
        won = True
        return {**current.doc, "used_at": rfc3339(utcnow())}

    updated = await store.update(workspace, LINK_TYPE, link_id, mutate)
    if updated is None or not won or updated.parent_id is None:
        return None
    return updated.parent_id, str(updated.doc.get("purpose"))


# --- Google-managed data controls -------------------------------------------------------------------------------------
def _controls_id(user_profile_id: str) -> str:
    return "gdc_" + hashlib.sha256(user_profile_id.encode("utf-8")).hexdigest()[:40]


def _default_controls() -> dict[str, Any]:
    return {
        "bucket_label_value": "uprof-" + secrets.token_hex(12),
        "cmek": {"type": "disabled", "retired_keys": []},
        "storage": {"type": "disabled", "retired_buckets": []},
    }


async def _controls(store: Store, workspace: str, user_profile_id: str) -> Record:
    """The profile's data controls, created with the defaults on first use (404 if the profile does not exist)."""
    await KIND.get(store, workspace, user_profile_id)
    controls_id = _controls_id(user_profile_id)
    record = await store.get(workspace, CONTROLS_TYPE, controls_id)
    if record is not None:
        return record
    try:
        return await store.create(workspace, CONTROLS_TYPE, controls_id, _default_controls(), parent_id=user_profile_id)
    except sa.exc.IntegrityError:  # a concurrent first read created it
        record = await store.get(workspace, CONTROLS_TYPE, controls_id)
        if record is None:
            raise NotFound(f"user profile {user_profile_id!r} not found") from None
        return record


def _controls_response(record: Record) -> dict[str, Any]:
    now = utcnow()

    def live(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        kept = [e for e in entries if (parse_rfc3339(str(e.get("expires_at"))) or now) > now]
        return sorted(kept, key=lambda e: str(e.get("expires_at")))

    doc = record.doc
    cmek = dict(doc["cmek"])
    cmek["retired_keys"] = live(cmek.get("retired_keys") or [])
    storage = dict(doc["storage"])
    storage["retired_buckets"] = live(storage.get("retired_buckets") or [])
    if cmek["type"] == "enabled":
        cmek["status"] = {
            region: {"type": "pending", "effective_external_key_id": None, "error": None}
            for region in cmek.get("external_key_ids", {})
        }
    if storage["type"] == "enabled":
        storage["status"] = {
            region: {"type": "pending", "failed_checks": []}  # effective_bucket absent = null
            for region in storage.get("buckets", {})
        }
    return {
        "type": "google_managed_data_controls",
        "user_profile_id": record.parent_id,
        "bucket_label_value": doc["bucket_label_value"],
        "cmek": cmek,
        "storage": storage,
        "updated_at": rfc3339(record.updated_at),
    }


async def retrieve_data_controls(store: Store, workspace: str, user_profile_id: str) -> dict[str, Any]:
    return _controls_response(await _controls(store, workspace, user_profile_id))


def _update_cmek(current: Mapping[str, Any], change: Mapping[str, Any], expires: str) -> dict[str, Any]:
    keys: dict[str, str] = dict(current.get("external_key_ids") or {}) if current.get("type") == "enabled" else {}
    retired = list(current.get("retired_keys") or [])
    before = dict(keys)
    if change.get("type") == "enabled":
        for region, key_id in (change.get("external_key_ids") or {}).items():
            if key_id is None:
                keys.pop(region, None)
            else:
                keys[region] = key_id
    else:
        keys = {}
    for region, key_id in before.items():
        if keys.get(region) != key_id:
            retired.append({"external_key_id": key_id, "region": region, "expires_at": expires})
    if change.get("type") == "enabled":
        return {"type": "enabled", "external_key_ids": keys, "retired_keys": retired}
    return {"type": "disabled", "retired_keys": retired}


def _update_storage(current: Mapping[str, Any], change: Mapping[str, Any], expires: str) -> dict[str, Any]:
    buckets: dict[str, dict[str, Any]] = dict(current.get("buckets") or {}) if current.get("type") == "enabled" else {}
    retired = list(current.get("retired_buckets") or [])
    before = dict(buckets)
    if change.get("type") == "enabled":
        for region, bucket in (change.get("buckets") or {}).items():
            if bucket is None:
                buckets.pop(region, None)
            else:
                buckets[region] = {
                    "bucket_name": bucket.get("bucket_name"),
                    "project_number": bucket.get("project_number"),
                    "kms_key_name": None,
                    "location": None,
                    "project_id": None,
                }
    else:
        buckets = {}
    for region, bucket in before.items():
        if buckets.get(region) != bucket:
            retired.append(
                {
                    "bucket_name": bucket["bucket_name"],
                    "project_number": bucket["project_number"],
                    "region": region,
                    "expires_at": expires,
                }
            )
    if change.get("type") == "enabled":
        return {"type": "enabled", "buckets": buckets, "retired_buckets": retired}
    return {"type": "disabled", "retired_buckets": retired}


async def update_data_controls(
    store: Store, workspace: str, user_profile_id: str, body: Mapping[str, Any]
) -> dict[str, Any]:
    record = await _controls(store, workspace, user_profile_id)

    async def mutate(current: Record) -> Mapping[str, Any]:
        doc = dict(current.doc)
        expires = rfc3339(utcnow() + RETIRED_TTL) or ""
        if isinstance(body.get("cmek"), Mapping):
            doc["cmek"] = _update_cmek(doc["cmek"], body["cmek"], expires)
        if isinstance(body.get("storage"), Mapping):
            doc["storage"] = _update_storage(doc["storage"], body["storage"], expires)
        return doc

    updated = await store.update(workspace, CONTROLS_TYPE, record.id, mutate)
    if updated is None:
        raise KIND.not_found(user_profile_id)
    return _controls_response(updated)
