"""Deployments (``/v1/deployments``) and their runs (``/v1/deployment_runs``).

A deployment binds an agent (pinned to a concrete version: an id string pins the latest one), an environment, vaults,
resources, initial events and an optional cron schedule. References must exist in the workspace (404) and the agent
and environment must not be archived (400). Status is ``active`` or ``paused`` (``paused_reason`` ``{type: manual}``
after a pause, ``{type: error, error: {type}}`` after a scheduled run failed; non-null exactly when paused); archive
is terminal (read-only, reported ``active`` with ``archived_at``, no upcoming runs).
``schedule.upcoming_runs_at`` lists the next 5 occurrences of the cron expression in its timezone;
``schedule.last_run_at`` is the ``created_at`` of the newest scheduled run that started a session (manual runs and
failed fires do not count), read from the run records.

**Runs.** A run (``run``: manual, allowed while paused; :func:`fire_schedules`: the cron occurrences) creates one
session through :func:`gateway.storage.sessions.create` from the pinned agent version, the environment, resources,
vault ids, budget, metadata and initial events (appended to the session's event log), with the session's
``deployment_id`` set, then appends the run record ``{type: deployment_run, deployment_id, agent, trigger_context
({type: manual} | {type: schedule, scheduled_at}), session_id xor error, created_at}`` and hands the session to the
runtime (``start_session(workspace, session_id)``; a failure there is logged, the runtime's own sweep picks the
session up). When a reference went bad (agent archived, environment archived or gone, vault archived or gone, a file
or memory store gone or archived) the run records that ``error`` instead and no session exists; any other refusal of
the session is ``session_creation_rejected_error`` with its message. A failed *scheduled* run also pauses the
deployment with ``paused_reason {type: error, error: {type}}``.

**Schedules.** :func:`fire_schedules` fires every occurrence in a window ``(since, now]`` (the scheduler in
:mod:`gateway.scheduler` passes its previous tick) of every active, unarchived deployment with a schedule, in every
workspace, oldest first, with ``scheduled_at`` the exact occurrence. An occurrence is claimed before anything is
created: a private ``deployment_occurrence`` row whose id is derived from (deployment id, scheduled_at), so the primary
key lets exactly one gateway process (of any number on one database) fire it; the run's id is derived the same way.
No backfill: a deployment's schedule starts at its private ``_schedule_from`` moment (set on create, on a schedule
change and when a paused deployment is unpaused), so occurrences from before it never fire. A crash between the claim
and the run record loses that occurrence (at most once, never twice). GitHub ``authorization_token`` values are
write-only in the API; this gateway does not store them for deployments, so a repository resource of a deployment's
session has no token."""

from __future__ import annotations

import hashlib
import itertools
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from gateway.errors import GatewayError, InvalidRequest, NotFound
from gateway.storage import agents, environments, sessions
from gateway.storage.pagination import page
from gateway.storage.resource import Kind, body_fields, patch_metadata, timestamps
from gateway.storage.store import Record, Store, parse_rfc3339, record_of, rfc3339, utcnow, valid_id
from gateway.storage.tables import resources

logger = logging.getLogger(__name__)

KIND = Kind("deployment", "depl")
RUN = Kind("deployment_run", "drun", label="deployment run")
#: private claim rows: one per (deployment, scheduled_at) that some process fired (never listed or returned)
OCCURRENCE = Kind("deployment_occurrence", "docc")
#: resource kinds a deployment may reference, by the stored ``type``
VAULT = Kind("vault", "vlt")
FILE = Kind("file", "file")
MEMORY_STORE = Kind("memory_store", "memstore", label="memory store")
UPCOMING = 5
_ABSENT_WHEN_NULL = ("paused_reason", "schedule", "budget")
SCHEDULE_FROM = "_schedule_from"  # private: occurrences at or before this moment never fire (no backfill)
#: hands a new session to the session runtime: ``(workspace, session_id)``
StartSession = Callable[[str, str], Awaitable[None]]
_ID_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"  # as gateway.storage.store.new_id


# --- cron ----------------------------------------------------------------------------------------------------------
_MONTHS = {m: i + 1 for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split())}
_DAYS = {d: i for i, d in enumerate("sun mon tue wed thu fri sat".split())}
_Spec = tuple[str, int, int, Mapping[str, int]]
_FIELDS: tuple[_Spec, ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day-of-month", 1, 31, {}),
    ("month", 1, 12, _MONTHS),
)
_DOW: _Spec = ("day-of-week", 0, 7, _DAYS)


def _value(text: str, low: int, high: int, names: Mapping[str, int], field: str) -> int:
    number = names.get(text.lower()) if names else None
    if number is None:
        if not text.isdigit():
            raise InvalidRequest(f"schedule.expression: {field} {text!r} is not a number")
        number = int(text)
    if not low <= number <= high:
        raise InvalidRequest(f"schedule.expression: {field} {number} is outside {low}-{high}")
    return number


def _field(text: str, spec: _Spec) -> tuple[frozenset[int], bool]:
    """The values a cron field allows and whether it is restricted (not ``*``)."""
    field, low, high, names = spec
    values: set[int] = set()
    for part in text.split(","):
        body, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise InvalidRequest(f"schedule.expression: {field} step {step_text!r} must be a positive number")
            step = int(step_text)
        if body == "*":
            start, stop = low, high
        elif "-" in body:
            first, _, last = body.partition("-")
            start, stop = _value(first, low, high, names, field), _value(last, low, high, names, field)
            if start > stop:
                raise InvalidRequest(f"schedule.expression: {field} range {body!r} is reversed")
        else:
            start = _value(body, low, high, names, field)
            stop = high if step_text else start
        values.update(range(start, stop + 1, step))
    return frozenset(values), text != "*"


class Cron:
    """A 5-field POSIX cron expression (``minute hour day-of-month month day-of-week``; lists, ranges, steps, month
    and day names; day-of-week 0 and 7 are Sunday; when both day fields are restricted a day matching either one
    fires, as POSIX specifies)."""

    def __init__(self, expression: str) -> None:
        parts = expression.split()
        if len(parts) != 5 or "\x00" in expression:
            raise InvalidRequest(
                "schedule.expression: must be a 5-field cron expression (minute hour day-of-month month day-of-week)"
            )
        (self.minutes, _), (self.hours, _), (self.days, self.days_set), (self.months, _) = (
            _field(text, spec) for text, spec in zip(parts[:4], _FIELDS, strict=True)
        )
        weekdays, self.weekdays_set = _field(parts[4], _DOW)
        self.weekdays = frozenset(d % 7 for d in weekdays)

    def _day_matches(self, day: datetime) -> bool:
        if day.month not in self.months:
            return False
        dom = day.day in self.days
        dow = (day.weekday() + 1) % 7 in self.weekdays
        if self.days_set and self.weekdays_set:
            return dom or dow
        return dom and dow

    def _fires(self, timezone: ZoneInfo, after: datetime, last_day: datetime | None = None) -> Iterator[datetime]:
        """Fire times after ``after`` day by day (local days up to ``last_day``, naive local), as aware UTC."""
        local = after.astimezone(timezone)
        day = local.replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
        for _ in range(366 * 8):  # a Feb-29-only expression fires at least once in 8 years
            if last_day is not None and day > last_day:
                return
            if self._day_matches(day):
                for hour in sorted(self.hours):
                    for minute in sorted(self.minutes):
                        fire = day.replace(hour=hour, minute=minute).replace(tzinfo=timezone).astimezone(UTC)
                        if fire > after:
                            yield fire
            day += timedelta(days=1)

    def upcoming(self, timezone: ZoneInfo, after: datetime, count: int = UPCOMING) -> list[datetime]:
        """The next ``count`` fire times strictly after ``after`` (aware), as aware UTC datetimes."""
        return list(itertools.islice(self._fires(timezone, after), count))

    def between(self, timezone: ZoneInfo, after: datetime, until: datetime) -> list[datetime]:
        """Every fire time in ``(after, until]`` (aware), ascending and distinct (a local time that a DST change
        skips maps onto the hour after it, like the time it would duplicate)."""
        last_day = until.astimezone(timezone).replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
        return sorted({f for f in self._fires(timezone, after, last_day) if f <= until})


def _zone(name: Any) -> ZoneInfo:
    try:
        if not isinstance(name, str) or not name or "\x00" in name:
            raise ValueError(name)
        return ZoneInfo(name)
    except Exception:
        raise InvalidRequest(f"schedule.timezone: {name!r} is not an IANA timezone") from None


def _schedule(value: Any) -> dict[str, Any] | None:
    """A schedule as stored (validated: 400 for a bad expression or timezone); None: manual-only."""
    if not isinstance(value, Mapping):
        return None
    expression = str(value.get("expression") or "")
    Cron(expression)
    _zone(value.get("timezone"))
    return {"type": "cron", "expression": expression, "timezone": value.get("timezone"), "last_run_at": None}


def _schedule_response(stored: Any, archived: bool, last_run_at: datetime | None) -> dict[str, Any] | None:
    if not isinstance(stored, Mapping):
        return None
    out = dict(stored)
    out["last_run_at"] = rfc3339(last_run_at)
    upcoming: list[str | None] = []
    if not archived:
        try:
            fires = Cron(str(out["expression"])).upcoming(_zone(out["timezone"]), datetime.now(UTC))
        except InvalidRequest:  # stored before a rule changed: show no upcoming runs rather than fail
            fires = []
        upcoming = [rfc3339(f.replace(tzinfo=None)) for f in fires]
    out["upcoming_runs_at"] = upcoming
    return out


# --- references ----------------------------------------------------------------------------------------------------
async def _agent(store: Store, workspace: str, value: Any) -> dict[str, Any]:
    """``{type: agent, id, version}``: a string (or an object without version) pins the latest version."""
    if isinstance(value, Mapping):
        agent_id, version = str(value.get("id") or ""), value.get("version")
    else:
        agent_id, version = str(value or ""), None
    record = await agents.KIND.get(store, workspace, agent_id)
    if record.archived_at is not None:
        raise InvalidRequest(f"agent {agent_id!r} is archived and cannot be deployed")
    if version is None:
        version = record.version
    elif (
        isinstance(version, bool)
        or not isinstance(version, int)
        or not await store.get_version(workspace, agents.KIND.type, agent_id, version)
    ):
        raise NotFound(f"agent {agent_id!r} has no version {version!r}")
    return {"type": "agent", "id": agent_id, "version": version}


async def _environment(store: Store, workspace: str, environment_id: Any) -> str:
    record = await environments.KIND.get(store, workspace, str(environment_id or ""))
    if record.archived_at is not None:
        raise InvalidRequest(f"environment {record.id!r} is archived and cannot be used by a deployment")
    return record.id


async def _exists(store: Store, workspace: str, kind: Kind, id_: Any) -> str:
    await kind.get(store, workspace, str(id_ or ""))
    return str(id_)


async def _vault_ids(store: Store, workspace: str, values: Any) -> list[str]:
    return [await _exists(store, workspace, VAULT, v) for v in (values or [])]


async def _resources(store: Store, workspace: str, values: Any) -> list[dict[str, Any]]:
    """Resource configs as echoed: references must exist; the write-only ``authorization_token`` is dropped."""
    out = []
    for value in values or []:
        # absent rather than null (the SDK's fields are optional; null fails the response check of a nullable oneOf)
        item = {k: v for k, v in dict(value).items() if k != "authorization_token" and v is not None}
        if item.get("type") == "file":
            await _exists(store, workspace, FILE, item.get("file_id"))
        elif item.get("type") == "memory_store":
            await _exists(store, workspace, MEMORY_STORE, item.get("memory_store_id"))
        out.append(item)
    return out


# --- deployments ---------------------------------------------------------------------------------------------------
def response(record: Record, last_run_at: datetime | None = None) -> dict[str, Any]:
    doc = {k: v for k, v in record.doc.items() if not k.startswith("_")}
    archived = record.archived_at is not None
    doc["schedule"] = _schedule_response(doc.get("schedule"), archived, last_run_at)
    if archived:
        doc["status"], doc["paused_reason"] = "active", None
    for key in _ABSENT_WHEN_NULL:  # optional in the SDK; the response validator refuses null for a nullable oneOf
        if doc.get(key) is None:
            doc.pop(key, None)
    return {**doc, **timestamps(record)}


async def _last_runs(store: Store, workspace: str, deployment_ids: Sequence[str]) -> dict[str, datetime]:
    """Per deployment: ``created_at`` of its newest scheduled run that started a session."""
    if not deployment_ids:
        return {}
    query = (
        sa.select(resources.c.parent_id, sa.func.max(resources.c.created_at))
        .where(
            resources.c.workspace == workspace,
            resources.c.type == RUN.type,
            resources.c.parent_id.in_(deployment_ids),
            resources.c.doc[("trigger_context", "type")].as_string() == "schedule",
            resources.c.doc["session_id"].as_string().is_not(None),
        )
        .group_by(resources.c.parent_id)
    )
    async with store.engine.connect() as conn:
        return {row[0]: row[1] for row in (await conn.execute(query)).all()}


async def _responses(store: Store, workspace: str, records: Sequence[Record]) -> list[dict[str, Any]]:
    scheduled = [r.id for r in records if isinstance(r.doc.get("schedule"), Mapping)]
    last = await _last_runs(store, workspace, scheduled)
    return [response(r, last.get(r.id)) for r in records]


async def _response(store: Store, workspace: str, record: Record) -> dict[str, Any]:
    return (await _responses(store, workspace, [record]))[0]


def _now(now: datetime | None) -> str:
    return rfc3339(utcnow() if now is None else _aware(now).astimezone(UTC).replace(tzinfo=None)) or ""


async def create(store: Store, workspace: str, body: Mapping[str, Any]) -> dict[str, Any]:
    fields = body_fields(body)
    doc: dict[str, Any] = {
        "name": fields.get("name"),
        "description": fields.get("description"),
        "agent": await _agent(store, workspace, fields.get("agent")),
        "environment_id": await _environment(store, workspace, fields.get("environment_id")),
        "vault_ids": await _vault_ids(store, workspace, fields.get("vault_ids")),
        "resources": await _resources(store, workspace, fields.get("resources")),
        "initial_events": list(fields.get("initial_events") or []),
        "metadata": dict(fields.get("metadata") or {}),
        "schedule": _schedule(fields.get("schedule")),
        "budget": fields.get("budget"),
        "status": "active",
        "paused_reason": None,
        SCHEDULE_FROM: _now(None),
    }
    return response(await KIND.create(store, workspace, doc))


async def retrieve(store: Store, workspace: str, deployment_id: str) -> dict[str, Any]:
    return await _response(store, workspace, await KIND.get(store, workspace, deployment_id))


async def update(store: Store, workspace: str, deployment_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
    await KIND.get_live(store, workspace, deployment_id)  # 404 / archived 400 before resolving references
    fields = body_fields(body)
    resolved: dict[str, Any] = {}
    if fields.get("agent") is not None:
        resolved["agent"] = await _agent(store, workspace, fields["agent"])
    if fields.get("environment_id") is not None:
        resolved["environment_id"] = await _environment(store, workspace, fields["environment_id"])
    if "vault_ids" in fields:
        resolved["vault_ids"] = await _vault_ids(store, workspace, fields["vault_ids"])
    if "resources" in fields:
        resolved["resources"] = await _resources(store, workspace, fields["resources"])
    if "schedule" in fields:
        resolved["schedule"] = _schedule(fields["schedule"])
    if fields.get("name") is not None:
        resolved["name"] = fields["name"]
    if fields.get("initial_events") is not None:
        resolved["initial_events"] = list(fields["initial_events"])
    if "description" in fields:
        resolved["description"] = fields["description"] or None
    if "budget" in fields:
        resolved["budget"] = fields["budget"]

    def change(record: Record) -> dict[str, Any]:
        doc = {**record.doc, **resolved}
        if "metadata" in fields:
            doc["metadata"] = patch_metadata(doc.get("metadata"), fields["metadata"])
        if "schedule" in resolved and _cron_of(resolved["schedule"]) != _cron_of(record.doc.get("schedule")):
            doc[SCHEDULE_FROM] = _now(None)  # a new schedule starts from its next occurrence
        return doc

    return await _response(store, workspace, await KIND.update(store, workspace, deployment_id, change))


def _cron_of(schedule: Any) -> tuple[Any, Any] | None:
    return (schedule.get("expression"), schedule.get("timezone")) if isinstance(schedule, Mapping) else None


async def _set_status(
    store: Store, workspace: str, deployment_id: str, reason: Mapping[str, Any] | None, now: datetime | None = None
) -> Record:
    def change(record: Record) -> dict[str, Any]:
        doc = {**record.doc, "status": "active" if reason is None else "paused", "paused_reason": reason}
        if reason is None and record.doc.get("status") == "paused":
            doc[SCHEDULE_FROM] = _now(now)  # resumes from the next occurrence: no backfill
        return doc

    return await KIND.update(store, workspace, deployment_id, change)


async def pause(store: Store, workspace: str, deployment_id: str) -> dict[str, Any]:
    """Suppresses scheduled runs (manual runs stay allowed); idempotent."""
    return await _response(store, workspace, await _set_status(store, workspace, deployment_id, {"type": "manual"}))


async def unpause(store: Store, workspace: str, deployment_id: str, *, now: datetime | None = None) -> dict[str, Any]:
    """Resumes from the first occurrence after ``now`` (default: the current time; no backfill); idempotent."""
    return await _response(store, workspace, await _set_status(store, workspace, deployment_id, None, now))


async def archive(store: Store, workspace: str, deployment_id: str) -> dict[str, Any]:
    return await _response(store, workspace, await KIND.archive(store, workspace, deployment_id))


async def list_deployments(
    store: Store,
    workspace: str,
    *,
    limit: int | None,
    page_cursor: str | None,
    include_archived: bool,
    agent_id: str | None,
    status: str | None,
    created_at_gte: str | None,
    created_at_lte: str | None,
) -> dict[str, Any]:
    """Newest first. ``status`` and ``include_archived`` combine (archived deployments report ``active``); the API
    refuses the combination, but the contract cannot express that, see the module note of the issue. The agent and
    status filters run in Python: a SQL JSON path on a client document containing ``\\u0000`` fails on PostgreSQL."""

    def wanted(record: Record) -> bool:
        if agent_id is not None and (record.doc.get("agent") or {}).get("id") != agent_id:
            return False
        if status is None:
            return True
        shown = "active" if record.archived_at is not None else record.doc.get("status")
        return bool(shown == status)

    records, next_page = await store.list_resources(
        workspace,
        KIND.type,
        limit=limit,
        page=page_cursor,
        include_archived=include_archived,
        created={"gte": created_at_gte, "lte": created_at_lte},
        predicate=wanted,
        cursor_key=f"{agent_id}|{status}|{include_archived}",
    )
    return page(await _responses(store, workspace, records), next_page)


# --- runs ----------------------------------------------------------------------------------------------------------
#: the run errors that also pause a deployment when a scheduled run fails (the API's paused-reason error types;
#: transient refusals such as ``session_rate_limited_error`` do not pause)
PAUSING_ERRORS = frozenset(
    {
        "agent_archived_error",
        "environment_archived_error",
        "environment_not_found_error",
        "file_not_found_error",
        "memory_store_archived_error",
        "session_resource_not_found_error",
        "vault_archived_error",
        "vault_not_found_error",
    }
)


def run_response(record: Record) -> dict[str, Any]:
    doc = {k: v for k, v in record.doc.items() if not (k == "error" and v is None)}  # nullable oneOf: absent
    return {"id": record.id, "type": RUN.type, **doc, "created_at": rfc3339(record.created_at)}


async def _run_error(store: Store, workspace: str, doc: Mapping[str, Any]) -> dict[str, str] | None:
    """Why a run of a deployment (``doc``) cannot create its session (a reference went bad), or None."""
    agent_ref = doc.get("agent") or {}
    agent = await store.get(workspace, agents.KIND.type, str(agent_ref.get("id") or ""))
    if agent is not None and agent.archived_at is not None:
        return {"type": "agent_archived_error", "message": f"agent {agent.id!r} is archived"}
    environment_id = str(doc.get("environment_id") or "")
    environment = await store.get(workspace, environments.KIND.type, environment_id)
    if environment is None:
        return {"type": "environment_not_found_error", "message": f"environment {environment_id!r} no longer exists"}
    if environment.archived_at is not None:
        return {"type": "environment_archived_error", "message": f"environment {environment_id!r} is archived"}
    for vault_id in doc.get("vault_ids") or []:
        vault = await store.get(workspace, VAULT.type, str(vault_id))
        if vault is None:
            return {"type": "vault_not_found_error", "message": f"vault {vault_id!r} no longer exists"}
        if vault.archived_at is not None:
            return {"type": "vault_archived_error", "message": f"vault {vault_id!r} is archived"}
    for item in doc.get("resources") or []:
        if item.get("type") == "file":
            file_id = str(item.get("file_id") or "")
            found = await store.get(workspace, FILE.type, file_id)
            if found is None or found.archived_at is not None:
                return {"type": "file_not_found_error", "message": f"file {file_id!r} no longer exists"}
        elif item.get("type") == "memory_store":
            store_id = str(item.get("memory_store_id") or "")
            found = await store.get(workspace, MEMORY_STORE.type, store_id)
            if found is None:
                message = f"memory store {store_id!r} no longer exists"
                return {"type": "session_resource_not_found_error", "message": message}
            if found.archived_at is not None:
                return {"type": "memory_store_archived_error", "message": f"memory store {store_id!r} is archived"}
    return None


def _session_body(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The session a run of the deployment ``doc`` creates (its pinned agent version and everything it binds)."""
    agent = doc.get("agent") or {}
    return {
        "agent": {"type": "agent", "id": agent.get("id"), "version": agent.get("version")},
        "environment_id": doc.get("environment_id"),
        "resources": list(doc.get("resources") or []),
        "vault_ids": list(doc.get("vault_ids") or []),
        "initial_events": list(doc.get("initial_events") or []),
        "metadata": dict(doc.get("metadata") or {}),
        "budget": doc.get("budget"),
    }


async def _fire(
    store: Store,
    deployment: Record,
    trigger: Mapping[str, Any],
    run_id: str,
    start_session: StartSession | None,
) -> dict[str, Any]:
    """Create the deployment's session (or name why not), record the run, start the session."""
    workspace = deployment.workspace
    error = await _run_error(store, workspace, deployment.doc)
    session_id: str | None = None
    if error is None:
        try:
            created = await sessions.create(
                store, workspace, _session_body(deployment.doc), deployment_id=deployment.id
            )
            session_id = str(created["id"])
        except GatewayError as exc:  # a reference went bad in a way not named above, or a rule refused it
            error = {"type": "session_creation_rejected_error", "message": exc.message}
    doc = {
        "deployment_id": deployment.id,
        "agent": dict(deployment.doc.get("agent") or {}),
        "trigger_context": dict(trigger),
        "session_id": session_id,
        "error": error,
    }
    record = await store.create(workspace, RUN.type, run_id, doc, parent_id=deployment.id)
    if session_id is not None and start_session is not None:
        try:
            await start_session(workspace, session_id)
        except Exception:  # the run and its session exist; the runtime's own sweep picks the session up
            logger.exception("deployment run %s: handing session %s to the runtime failed", record.id, session_id)
    return run_response(record)


async def run(
    store: Store, workspace: str, deployment_id: str, *, start_session: StartSession | None = None
) -> dict[str, Any]:
    """A manual run (allowed while paused; an archived deployment is immutable: 400). See the module docstring."""
    deployment = await KIND.get_live(store, workspace, deployment_id)
    return await _fire(store, deployment, {"type": "manual"}, RUN.new_id(), start_session)


# --- schedules -----------------------------------------------------------------------------------------------------
def _aware(moment: datetime) -> datetime:
    """``moment`` as an aware datetime (naive values are UTC, as stored)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _derived_id(prefix: str, key: str) -> str:
    """A tagged id (the shape of :func:`gateway.storage.store.new_id`) that is a function of ``key``."""
    number = int.from_bytes(hashlib.sha256(f"{prefix}|{key}".encode()).digest(), "big")
    chars = []
    for _ in range(22):
        number, digit = divmod(number, len(_ID_ALPHABET))
        chars.append(_ID_ALPHABET[digit])
    return f"{prefix}_01" + "".join(chars)


def occurrence_run_id(deployment_id: str, scheduled_at: datetime) -> str:
    """The id of the run of ``deployment_id`` scheduled at ``scheduled_at`` (the same in every gateway process)."""
    return _derived_id(RUN.prefix, f"{deployment_id}|{_stamp(scheduled_at)}")


def _stamp(moment: datetime) -> str:
    return rfc3339(_aware(moment).astimezone(UTC).replace(tzinfo=None)) or ""


def _due(record: Record, since: datetime, now: datetime) -> list[datetime]:
    """The occurrences of ``record``'s schedule in ``(since, now]`` that may fire (active, unarchived, after its
    ``_schedule_from``)."""
    schedule = record.doc.get("schedule")
    if record.archived_at is not None or record.doc.get("status") != "active" or not isinstance(schedule, Mapping):
        return []
    try:
        cron, zone = Cron(str(schedule.get("expression") or "")), _zone(schedule.get("timezone"))
    except InvalidRequest:  # stored before a rule changed: it cannot fire
        return []
    start = parse_rfc3339(str(record.doc.get(SCHEDULE_FROM) or "")) or record.created_at
    after = max(since, _aware(start))
    return cron.between(zone, after, now) if after < now else []


async def _fire_occurrence(
    store: Store, deployment: Record, scheduled_at: datetime, start_session: StartSession | None
) -> dict[str, Any] | None:
    """Claim the occurrence and run it; None when another process (or an earlier tick) already claimed it."""
    stamp = _stamp(scheduled_at)
    key = f"{deployment.id}|{stamp}"
    claim = {"deployment_id": deployment.id, "scheduled_at": stamp}
    try:
        await store.create(
            deployment.workspace, OCCURRENCE.type, _derived_id(OCCURRENCE.prefix, key), claim, parent_id=deployment.id
        )
    except sa.exc.IntegrityError:
        return None
    trigger = {"type": "schedule", "scheduled_at": stamp}
    fired = await _fire(store, deployment, trigger, occurrence_run_id(deployment.id, scheduled_at), start_session)
    error_type = (fired.get("error") or {}).get("type")
    if error_type in PAUSING_ERRORS:
        await _pause_for_error(store, deployment, str(error_type))
    return fired


async def _pause_for_error(store: Store, deployment: Record, error_type: str) -> None:
    def change(record: Record) -> dict[str, Any]:
        if record.doc.get("status") != "active":  # paused meanwhile: keep the client's reason
            return dict(record.doc)
        return {**record.doc, "status": "paused", "paused_reason": {"type": "error", "error": {"type": error_type}}}

    try:
        await KIND.update(store, deployment.workspace, deployment.id, change)
    except GatewayError:  # archived meanwhile: nothing to pause
        pass


async def fire_schedules(
    store: Store, *, since: datetime, now: datetime, start_session: StartSession | None = None
) -> list[dict[str, Any]]:
    """Fire every occurrence in ``(since, now]`` (aware datetimes) of every active deployment with a schedule, in
    every workspace; returns the runs this call recorded (oldest occurrence first per deployment). Safe to call from
    several processes at once: each occurrence runs once (see the module docstring). A deployment that fails is
    logged and skipped; the others still fire."""
    since, now = _aware(since), _aware(now)
    query = (
        sa.select(resources)
        .where(resources.c.type == KIND.type, resources.c.archived_at.is_(None))
        .order_by(resources.c.created_at, resources.c.id)
    )
    async with store.engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    fired: list[dict[str, Any]] = []
    for row in rows:
        deployment = record_of(row)
        try:
            for scheduled_at in _due(deployment, since, now):
                # re-read: paused (also by a failed run of the previous occurrence), archived or changed meanwhile
                current = await store.get(deployment.workspace, KIND.type, deployment.id)
                if current is None or scheduled_at not in _due(current, since, now):
                    break
                run_doc = await _fire_occurrence(store, current, scheduled_at, start_session)
                if run_doc is not None:
                    fired.append(run_doc)
        except Exception:
            logger.exception("deployment %s: firing its schedule failed (the other deployments still fire)", row.id)
    return fired


async def retrieve_run(store: Store, workspace: str, run_id: str) -> dict[str, Any]:
    return run_response(await RUN.get(store, workspace, run_id))


async def list_runs(
    store: Store,
    workspace: str,
    *,
    limit: int | None,
    page_cursor: str | None,
    deployment_id: str | None,
    has_error: bool | None,
    trigger_type: str | None,
    created: Mapping[str, str | None],
) -> dict[str, Any]:
    """Newest first; an unknown ``deployment_id`` is an empty page (as the API answers)."""
    where: list[Any] = []
    if deployment_id is not None:
        if not valid_id(deployment_id):
            return page([], None)
        where.append(resources.c.parent_id == deployment_id)
    error_type = resources.c.doc[("error", "type")].as_string()
    if has_error is True:
        where.append(error_type.is_not(None))
    elif has_error is False:
        where.append(error_type.is_(None))
    if trigger_type is not None:
        where.append(resources.c.doc[("trigger_context", "type")].as_string() == trigger_type)
    records, next_page = await store.list_resources(
        workspace,
        RUN.type,
        limit=limit,
        page=page_cursor,
        include_archived=True,
        created=created,
        where=where,
        max_limit=1000,
        cursor_key=f"{deployment_id}|{has_error}|{trigger_type}",
    )
    return page([run_response(r) for r in records], next_page)
