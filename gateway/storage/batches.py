"""Message Batches (``/v1/messages/batches``): accepted, stored, then run request by request through the native
router (the code path of ``POST /v1/messages``, non-streaming) by a :class:`BatchRunner` owned by the app's lifespan.

Storage: the batch is a ``message_batch`` resource; each request is a ``message_batch_request`` row whose
``parent_id`` is the batch and whose id is ``<batch id>:<index, 8 digits>`` (so the results stream in request
order). A request's result is written into its row when it completes. Requests left unprocessed when a batch ends
(canceled, expired) have no row result: the batch's ``remainder`` names their result type.

As in the API, ``request_counts`` report every request as ``processing`` until the whole batch ends, then the final
tallies; ``results_url`` is set only once ``processing_status`` is ``ended``.

Work ownership and restarts: every batch that is not ended carries a lease (runner id + expiry, renewed every
``lease_seconds / 3`` by its runner). A runner adopts, at start-up and then periodically, every unfinished batch
whose lease has expired (a crashed process; a clean shutdown releases its leases at once) and **resumes** it from
the first request without a stored result. The client's upstream credential (``x-api-key`` / bearer when it is not
a gateway key) is held in memory only and is never stored: a resumed batch runs without it, so requests routed to a
pass-through deployment then fail with the upstream's authentication error (recorded as ``errored``). A request that
was in flight at the crash is sent again (at-least-once)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import orjson
import sqlalchemy as sa

from gateway.errors import GatewayError, InvalidRequest
from gateway.settings import Settings
from gateway.storage.pagination import id_page
from gateway.storage.resource import Kind
from gateway.storage.store import Record, Store, parse_rfc3339, rfc3339, utcnow
from gateway.storage.tables import resources

logger = logging.getLogger("gateway.batches")

KIND = Kind("message_batch", "msgbatch")
REQUEST_TYPE = "message_batch_request"
RUNNER_STATE = "message_batch_runner"
MAX_REQUESTS = 100_000
LIFETIME = timedelta(hours=24)
INSERT_CHUNK = 1000
RESULT_CHUNK = 500
RESULT_TYPES = ("succeeded", "errored", "canceled", "expired")
#: request headers a batch's requests carry to the native router (in memory only, never stored)
FORWARDED_HEADERS = ("anthropic-version", "anthropic-beta", "x-api-key", "authorization")
BATCH_BETA = "message-batches-2024-09-24"


# --- the stored document and the response --------------------------------------------------------------------------
def _ts(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def response(record: Record, base_url: str) -> dict[str, Any]:
    """The ``MessageBatch`` of ``record``; ``base_url`` makes ``results_url`` (the gateway's own results URL)."""
    doc = record.doc
    ended = doc.get("processing_status") == "ended"
    total = int(doc.get("total") or 0)
    counts = {t: 0 for t in RESULT_TYPES}
    if ended:
        tallies = doc.get("tallies") or {}
        counts = {t: int(tallies.get(t) or 0) for t in RESULT_TYPES}
    processing = 0 if ended else total
    return {
        "id": record.id,
        "type": KIND.type,
        "processing_status": doc.get("processing_status", "in_progress"),
        "request_counts": {"processing": processing, **counts},
        "created_at": rfc3339(record.created_at),
        "expires_at": _ts(doc.get("expires_at")),
        "ended_at": _ts(doc.get("ended_at")),
        "cancel_initiated_at": _ts(doc.get("cancel_initiated_at")),
        "archived_at": None,
        "results_url": f"{base_url.rstrip('/')}/v1/messages/batches/{record.id}/results" if ended else None,
    }


def _request_id(batch_id: str, index: int) -> str:
    return f"{batch_id}:{index:08d}"


def _lease(owner: str, seconds: float) -> dict[str, Any]:
    return {"owner": owner, "until": rfc3339(utcnow() + timedelta(seconds=seconds))}


def _lease_expired(doc: Mapping[str, Any]) -> bool:
    lease = doc.get("lease")
    if not isinstance(lease, Mapping):
        return True
    until = parse_rfc3339(str(lease.get("until") or ""))
    return until is None or until <= utcnow()


# --- operations ----------------------------------------------------------------------------------------------------
def _validated(body: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    requests = body.get("requests")
    if not isinstance(requests, list):
        raise InvalidRequest("requests: must be an array")
    if len(requests) > MAX_REQUESTS:
        raise InvalidRequest(f"requests: a batch holds at most {MAX_REQUESTS} requests, got {len(requests)}")
    seen: set[str] = set()
    for i, item in enumerate(requests):
        custom_id = item.get("custom_id") if isinstance(item, Mapping) else None
        if not isinstance(custom_id, str):
            raise InvalidRequest(f"requests.{i}.custom_id: must be a string")
        if custom_id in seen:
            raise InvalidRequest(f"requests.{i}.custom_id: {custom_id!r} is not unique within the batch")
        seen.add(custom_id)
    return requests


async def create(
    store: Store, runner: BatchRunner, workspace: str, body: Mapping[str, Any], headers: Mapping[str, str], base: str
) -> dict[str, Any]:
    requests = _validated(body)
    now = utcnow()
    batch_id = KIND.new_id()
    doc: dict[str, Any] = {
        "processing_status": "in_progress",
        "total": len(requests),
        "next": 0,
        "tallies": {t: 0 for t in RESULT_TYPES},
        "expires_at": rfc3339(now + LIFETIME),
        "ended_at": None,
        "cancel_initiated_at": None,
        "remainder": None,
        "lease": _lease(runner.owner, runner.lease_seconds),
    }
    if not requests:  # nothing to process: ended at once
        doc.update(processing_status="ended", ended_at=rfc3339(now), lease=None)
    rows = [
        {
            "id": _request_id(batch_id, i),
            "workspace": workspace,
            "type": REQUEST_TYPE,
            "parent_id": batch_id,
            "version": 1,
            "created_at": now,
            "updated_at": now,
            "archived_at": None,
            "doc": {"custom_id": item["custom_id"], "params": item.get("params"), "result": None},
        }
        for i, item in enumerate(requests)
    ]
    record = await _insert(store, workspace, batch_id, doc, rows, now)
    if requests:
        runner.submit(workspace, batch_id, forwarded_headers(headers))
    return response(record, base)


async def _insert(
    store: Store, workspace: str, batch_id: str, doc: dict[str, Any], rows: list[dict[str, Any]], now: datetime
) -> Record:
    """The batch row and its request rows in one transaction (bulk inserts: a batch may hold 100,000 requests)."""
    values = {
        "id": batch_id,
        "workspace": workspace,
        "type": KIND.type,
        "parent_id": None,
        "version": 1,
        "created_at": now,
        "updated_at": now,
        "archived_at": None,
        "doc": doc,
    }
    async with store.engine.begin() as conn:
        await conn.execute(resources.insert().values(**values))
        for start in range(0, len(rows), INSERT_CHUNK):
            await conn.execute(resources.insert(), rows[start : start + INSERT_CHUNK])
    return Record(**values)  # type: ignore[arg-type]


def forwarded_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """What the batch's requests send on to the native router: version, betas (without the batches beta) and the
    client's own credential (the router drops the gateway's keys)."""
    out: dict[str, str] = {}
    for name in FORWARDED_HEADERS:
        value = headers.get(name)
        if value:
            out[name] = value
    betas = [b.strip() for b in out.pop("anthropic-beta", "").split(",") if b.strip() and b.strip() != BATCH_BETA]
    if betas:
        out["anthropic-beta"] = ",".join(betas)
    return out


async def retrieve(store: Store, workspace: str, batch_id: str, base: str) -> dict[str, Any]:
    return response(await KIND.get(store, workspace, batch_id), base)


async def cancel(store: Store, workspace: str, batch_id: str, base: str) -> dict[str, Any]:
    """``canceling``: the batch's task sees it before its next request and ends the batch, the requests it had not
    started becoming ``canceled`` (the one in flight completes)."""

    def change(record: Record) -> dict[str, Any]:
        doc = dict(record.doc)
        if doc.get("processing_status") == "in_progress":
            doc["processing_status"] = "canceling"
            doc["cancel_initiated_at"] = rfc3339(utcnow())
        return doc

    record = await KIND.get(store, workspace, batch_id)
    if record.doc.get("processing_status") == "in_progress":
        record = await KIND.update(store, workspace, batch_id, change)
    return response(record, base)


async def delete(store: Store, workspace: str, batch_id: str) -> dict[str, Any]:
    record = await KIND.get(store, workspace, batch_id)
    if record.doc.get("processing_status") != "ended":
        raise InvalidRequest(
            f"message batch {batch_id!r} is still {record.doc.get('processing_status')}: only a batch that has ended "
            "can be deleted (cancel it first)"
        )
    if not await store.delete_tree(workspace, KIND.type, batch_id, (REQUEST_TYPE,)):
        raise KIND.not_found(batch_id)
    return {"id": batch_id, "type": "message_batch_deleted"}


async def list_batches(
    store: Store, workspace: str, *, limit: int | None, after_id: str | None, before_id: str | None, base: str
) -> dict[str, Any]:
    records, has_more = await store.list_by_id(
        workspace, KIND.type, limit=limit, after_id=after_id or None, before_id=before_id or None
    )
    return id_page([response(r, base) for r in records], has_more)


async def results(store: Store, workspace: str, batch_id: str) -> AsyncIterator[bytes]:
    """The JSON Lines of an ended batch (400 before it ends, as the API answers). Checked before streaming starts;
    the lines are read in chunks of ``RESULT_CHUNK`` rows, never all at once."""
    record = await KIND.get(store, workspace, batch_id)
    if record.doc.get("processing_status") != "ended":
        raise InvalidRequest(f"message batch {batch_id!r} has not finished processing; its results are not ready")
    remainder = record.doc.get("remainder") or "canceled"
    return _lines(store, workspace, batch_id, remainder)


async def _lines(store: Store, workspace: str, batch_id: str, remainder: str) -> AsyncIterator[bytes]:
    last = ""
    while True:
        query = (
            sa.select(resources.c.id, resources.c.doc)
            .where(
                resources.c.workspace == workspace,
                resources.c.type == REQUEST_TYPE,
                resources.c.parent_id == batch_id,
                resources.c.id > last,
            )
            .order_by(resources.c.id)
            .limit(RESULT_CHUNK)
        )
        async with store.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        if not rows:
            return
        chunk = bytearray()
        for row in rows:
            doc = row.doc
            result = doc.get("result") or _unprocessed(remainder)
            chunk += orjson.dumps({"custom_id": doc.get("custom_id"), "result": result}) + b"\n"
        yield bytes(chunk)
        last = rows[-1].id


def _unprocessed(remainder: str) -> dict[str, Any]:
    if remainder == "errored":
        return _errored("api_error", "the gateway could not process this request")
    return {"type": remainder}


def _errored(error_type: str, message: str, request_id: str | None = None) -> dict[str, Any]:
    envelope = {"type": "error", "error": {"type": error_type, "message": message}, "request_id": request_id}
    return {"type": "errored", "error": envelope}


# --- the runner ----------------------------------------------------------------------------------------------------
class BatchRunner:
    """Runs batches as asyncio tasks (one per batch, its requests one after another, in order), renews their leases,
    adopts orphaned batches; everything it started is cancelled and awaited by :meth:`close`."""

    def __init__(self, store: Store, native: Any, *, lease_seconds: float = 60.0) -> None:
        self.store = store
        self.native = native
        self.lease_seconds = lease_seconds
        self.owner = uuid.uuid4().hex
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._held: dict[str, str] = {}  # batch id -> workspace, for every batch this runner holds a lease on
        self._housekeeper: asyncio.Task[None] | None = None
        self._closing = False

    # lifecycle
    async def start(self) -> None:
        await self.adopt_orphans()
        self._housekeeper = asyncio.create_task(self._housekeeping(), name="message-batches-housekeeping")

    async def close(self) -> None:
        self._closing = True
        tasks = [t for t in (self._housekeeper, *self._tasks.values()) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for batch_id, workspace in list(self._held.items()):
            with contextlib.suppress(Exception):  # best effort: an unreleased lease just expires
                await self._set_lease(workspace, batch_id, None)
        self._held.clear()

    def submit(self, workspace: str, batch_id: str, headers: Mapping[str, str]) -> None:
        if self._closing or batch_id in self._tasks:
            return
        self._held[batch_id] = workspace
        task = asyncio.create_task(self._run(workspace, batch_id, dict(headers)), name=f"message-batch-{batch_id}")
        self._tasks[batch_id] = task
        task.add_done_callback(lambda _t: self._forget(batch_id))

    def _forget(self, batch_id: str) -> None:
        self._tasks.pop(batch_id, None)
        if not self._closing:
            self._held.pop(batch_id, None)

    async def wait_idle(self) -> None:
        """Until every running batch task has finished (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)

    # housekeeping: lease renewal and adoption of orphans
    async def _housekeeping(self) -> None:
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            try:
                for batch_id, workspace in list(self._held.items()):
                    if batch_id in self._tasks:
                        await self._set_lease(workspace, batch_id, self.owner)
                await self.adopt_orphans()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("message batch housekeeping failed; retrying later")

    async def _set_lease(self, workspace: str, batch_id: str, owner: str | None) -> None:
        async def change(record: Record) -> Mapping[str, Any]:
            doc = dict(record.doc)
            if doc.get("processing_status") == "ended":
                return doc
            doc["lease"] = _lease(owner, self.lease_seconds) if owner else None
            return doc

        await self.store.update(workspace, KIND.type, batch_id, change)

    async def adopt_orphans(self) -> list[str]:
        """Take over every unfinished batch whose lease has expired and resume it (see the module docstring)."""
        query = sa.select(resources.c.id, resources.c.workspace, resources.c.doc).where(
            resources.c.type == KIND.type, resources.c.doc["processing_status"].as_string() != "ended"
        )
        async with self.store.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        adopted = []
        for row in rows:
            if row.id in self._tasks or not _lease_expired(row.doc):
                continue
            if await self._claim(row.workspace, row.id):
                logger.warning("resuming message batch %s (its previous runner stopped)", row.id)
                self.submit(row.workspace, row.id, {})
                adopted.append(row.id)
        return adopted

    async def _claim(self, workspace: str, batch_id: str) -> bool:
        claimed = False

        async def change(record: Record) -> Mapping[str, Any]:
            nonlocal claimed
            doc = dict(record.doc)
            claimed = doc.get("processing_status") != "ended" and _lease_expired(doc)
            if claimed:
                doc["lease"] = _lease(self.owner, self.lease_seconds)
            return doc

        await self.store.update(workspace, KIND.type, batch_id, change)
        return claimed

    # one batch
    async def _run(self, workspace: str, batch_id: str, headers: dict[str, str]) -> None:
        try:
            while await self._step(workspace, batch_id, headers):
                pass
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception(
                "message batch %s stopped on an internal error; it resumes after its lease expires", batch_id
            )

    async def _step(self, workspace: str, batch_id: str, headers: dict[str, str]) -> bool:
        """Process the next request (or end the batch); False when there is nothing more to do."""
        batch = await self.store.get(workspace, KIND.type, batch_id)
        if batch is None or batch.doc.get("processing_status") == "ended":
            return False
        doc = batch.doc
        index, total = int(doc.get("next") or 0), int(doc.get("total") or 0)
        if doc.get("processing_status") == "canceling":
            await self._finish(workspace, batch_id, "canceled")
            return False
        expires = parse_rfc3339(str(doc.get("expires_at") or ""))
        if expires is not None and utcnow() >= expires:
            await self._finish(workspace, batch_id, "expired")
            return False
        if index >= total:
            await self._finish(workspace, batch_id, None)
            return False
        request_id = _request_id(batch_id, index)
        row = await self.store.get(workspace, REQUEST_TYPE, request_id)
        if row is None:  # the batch was deleted meanwhile
            return False
        result = row.doc.get("result")
        if not isinstance(result, Mapping):
            result = await self._execute(row.doc.get("params"), headers)
            await self._store_result(workspace, request_id, result)
        await self._advance(workspace, batch_id, index, str(result.get("type")))
        return True

    async def _execute(self, params: Any, headers: Mapping[str, str]) -> dict[str, Any]:
        """One request through the native router, exactly as ``POST /v1/messages`` (non-streaming) runs it."""
        body = dict(params) if isinstance(params, Mapping) else {}
        body.pop("stream", None)
        try:
            # the stdlib, not orjson: a client's integer beyond 64 bits is still valid JSON to forward
            answer = await self.native.messages(body, json.dumps(body, ensure_ascii=False).encode(), headers)
        except GatewayError as error:
            return _errored(error.error_type, error.message)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.exception("message batch request failed inside the gateway")
            return _errored("api_error", f"the gateway failed to process this request ({type(exc).__name__})")
        content = bytes(getattr(answer, "body", b"") or b"")
        try:
            payload = orjson.loads(content)
        except orjson.JSONDecodeError:
            payload = None
        if answer.status_code == 200 and isinstance(payload, dict) and payload.get("type") == "message":
            return {"type": "succeeded", "message": payload}
        if isinstance(payload, dict) and payload.get("type") == "error" and isinstance(payload.get("error"), dict):
            detail = payload["error"]
            return _errored(
                str(detail.get("type") or "api_error"),
                str(detail.get("message") or ""),
                payload.get("request_id") if isinstance(payload.get("request_id"), str) else None,
            )
        return _errored("api_error", f"upstream answered {answer.status_code} without a message")

    async def _store_result(self, workspace: str, request_id: str, result: Mapping[str, Any]) -> None:
        def change(record: Record) -> Mapping[str, Any]:
            return {**record.doc, "result": dict(result)}

        await self.store.update(workspace, REQUEST_TYPE, request_id, _sync(change))

    async def _advance(self, workspace: str, batch_id: str, index: int, result_type: str) -> None:
        def change(record: Record) -> Mapping[str, Any]:
            doc = dict(record.doc)
            if int(doc.get("next") or 0) != index:  # already counted (resumed after a crash between two writes)
                return doc
            tallies = dict(doc.get("tallies") or {})
            tallies[result_type] = int(tallies.get(result_type) or 0) + 1
            doc["tallies"] = tallies
            doc["next"] = index + 1
            return doc

        await self.store.update(workspace, KIND.type, batch_id, _sync(change))

    async def _finish(self, workspace: str, batch_id: str, remainder: str | None) -> None:
        def change(record: Record) -> Mapping[str, Any]:
            doc = dict(record.doc)
            if doc.get("processing_status") == "ended":
                return doc
            left = int(doc.get("total") or 0) - int(doc.get("next") or 0)
            tallies = dict(doc.get("tallies") or {})
            if remainder is not None and left > 0:
                tallies[remainder] = int(tallies.get(remainder) or 0) + left
            doc.update(
                processing_status="ended",
                tallies=tallies,
                remainder=remainder,
                ended_at=rfc3339(utcnow()),
                lease=None,
            )
            return doc

        await self.store.update(workspace, KIND.type, batch_id, _sync(change))


def _sync(change: Any) -> Any:
    async def mutate(record: Record) -> Mapping[str, Any]:
        result: Mapping[str, Any] = change(record)
        return result

    return mutate


@asynccontextmanager
async def batch_runner(store: Store, native: Any, *, lease_seconds: float = 60.0) -> AsyncIterator[BatchRunner]:
    runner = BatchRunner(store, native, lease_seconds=lease_seconds)
    await runner.start()
    try:
        yield runner
    finally:
        await runner.close()


@asynccontextmanager
async def batch_service(settings: Settings, state: Mapping[str, Any]) -> AsyncIterator[Mapping[str, Any]]:
    """Lifespan factory: needs the storage and native services already started (their entries in ``state``).
    Entered after them, so it stops first: batch tasks are cancelled before the engine is disposed."""
    from gateway.native import STATE as NATIVE_STATE
    from gateway.storage.service import STATE as STORE_STATE

    async with batch_runner(state[STORE_STATE], state[NATIVE_STATE]) as runner:
        yield {RUNNER_STATE: runner}
