"""Deployments (``/v1/deployments``) and their runs (``/v1/deployment_runs``).

A deployment binds an agent (pinned to a concrete version: an id string pins the latest one), an environment, vaults,
resources, initial events and an optional cron schedule. References must exist in the workspace (404) and the agent
and environment must not be archived (400). Status is ``active`` or ``paused`` (``paused_reason`` ``{type: manual}``
exactly when paused); archive is terminal (read-only, reported ``active`` with ``archived_at``, no upcoming runs).
``schedule.upcoming_runs_at`` lists the next 5 occurrences of the cron expression in its timezone.

Runs: the agent runtime is not part of this gateway yet, so nothing fires on the schedule and a run cannot start a
session. ``run`` records an honest, append-only run record: ``trigger_context`` ``manual``, ``session_id`` null and
an ``error`` (the run-error type the API uses when a reference went bad - agent archived, environment archived or
gone, vault gone - else ``session_creation_rejected_error`` saying that no agent runtime is available). The API's
run record has no queued state (exactly one of ``session_id`` / ``error`` is set), so this is the only truthful
record. GitHub ``authorization_token`` values are write-only in the API; this gateway does not store them at all
(there is no runtime to use them yet)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from gateway.errors import InvalidRequest, NotFound
from gateway.storage import agents, environments
from gateway.storage.pagination import page
from gateway.storage.resource import Kind, body_fields, patch_metadata, timestamps
from gateway.storage.store import Record, Store, rfc3339, valid_id
from gateway.storage.tables import resources

KIND = Kind("deployment", "depl")
RUN = Kind("deployment_run", "drun", label="deployment run")
#: resource kinds a deployment may reference, by the stored ``type``
VAULT = Kind("vault", "vlt")
FILE = Kind("file", "file")
MEMORY_STORE = Kind("memory_store", "memstore", label="memory store")
UPCOMING = 5
_ABSENT_WHEN_NULL = ("paused_reason", "schedule", "budget")
NO_RUNTIME = (
    "no session was created: this gateway does not run agents yet (the agent runtime is not available), so the run "
    "was recorded without a session"
)


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

    def upcoming(self, timezone: ZoneInfo, after: datetime, count: int = UPCOMING) -> list[datetime]:
        """The next ``count`` fire times strictly after ``after`` (aware), as aware UTC datetimes."""
        local = after.astimezone(timezone)
        day = local.replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
        out: list[datetime] = []
        for _ in range(366 * 8):  # a Feb-29-only expression fires at least once in 8 years
            if self._day_matches(day):
                for hour in sorted(self.hours):
                    for minute in sorted(self.minutes):
                        fire = day.replace(hour=hour, minute=minute).replace(tzinfo=timezone).astimezone(UTC)
                        if fire > after:
                            out.append(fire)
                            if len(out) == count:
                                return out
            day += timedelta(days=1)
        return out


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


def _schedule_response(stored: Any, archived: bool) -> dict[str, Any] | None:
    if not isinstance(stored, Mapping):
        return None
    out = dict(stored)
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
def response(record: Record) -> dict[str, Any]:
    doc = dict(record.doc)
    archived = record.archived_at is not None
    doc["schedule"] = _schedule_response(doc.get("schedule"), archived)
    if archived:
        doc["status"], doc["paused_reason"] = "active", None
    for key in _ABSENT_WHEN_NULL:  # optional in the SDK; the response validator refuses null for a nullable oneOf
        if doc.get(key) is None:
            doc.pop(key, None)
    return {**doc, **timestamps(record)}


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
    }
    return response(await KIND.create(store, workspace, doc))


async def retrieve(store: Store, workspace: str, deployment_id: str) -> dict[str, Any]:
    return response(await KIND.get(store, workspace, deployment_id))


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
        return doc

    return response(await KIND.update(store, workspace, deployment_id, change))


async def _set_status(store: Store, workspace: str, deployment_id: str, paused: bool) -> dict[str, Any]:
    def change(record: Record) -> dict[str, Any]:
        return {
            **record.doc,
            "status": "paused" if paused else "active",
            "paused_reason": {"type": "manual"} if paused else None,
        }

    return response(await KIND.update(store, workspace, deployment_id, change))


async def pause(store: Store, workspace: str, deployment_id: str) -> dict[str, Any]:
    """Suppresses scheduled runs (manual runs stay allowed); idempotent."""
    return await _set_status(store, workspace, deployment_id, True)


async def unpause(store: Store, workspace: str, deployment_id: str) -> dict[str, Any]:
    """Resumes from the next occurrence (no backfill); idempotent."""
    return await _set_status(store, workspace, deployment_id, False)


async def archive(store: Store, workspace: str, deployment_id: str) -> dict[str, Any]:
    return response(await KIND.archive(store, workspace, deployment_id))


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
    return page([response(r) for r in records], next_page)


# --- runs ----------------------------------------------------------------------------------------------------------
def run_response(record: Record) -> dict[str, Any]:
    return {"id": record.id, "type": RUN.type, **record.doc, "created_at": rfc3339(record.created_at)}


async def _run_error(store: Store, workspace: str, doc: Mapping[str, Any]) -> dict[str, str]:
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
    return {"type": "session_creation_rejected_error", "message": NO_RUNTIME}


async def run(store: Store, workspace: str, deployment_id: str) -> dict[str, Any]:
    """A manual run (allowed while paused; an archived deployment is immutable: 400). See the module docstring."""
    deployment = await KIND.get_live(store, workspace, deployment_id)
    doc = {
        "deployment_id": deployment.id,
        "agent": dict(deployment.doc.get("agent") or {}),
        "trigger_context": {"type": "manual"},
        "session_id": None,
        "error": await _run_error(store, workspace, deployment.doc),
    }
    return run_response(await RUN.create(store, workspace, doc, parent_id=deployment.id))


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
