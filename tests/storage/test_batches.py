"""Message Batches through the official SDK (strict) against a real gateway whose native router points at a real fake
Anthropic upstream on 127.0.0.1 (bench.fakes): each request of a batch runs through POST /v1/messages' code path in
the background; SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import anthropic
import orjson
import pytest
import uvicorn
from starlette.responses import Response

from bench.fakes import AnthropicFake, Behavior, Text
from gateway.app import create_app
from gateway.settings import settings_from_mapping
from gateway.storage import batches
from gateway.storage.store import Record, Store
from tests.storage.conftest import KEY_A, KEY_B, free_port, http, migrated_engine, sdk

PARAMS: dict[str, Any] = {"model": "claude-sonnet-5", "max_tokens": 32, "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def fake() -> Iterator[AnthropicFake]:
    with AnthropicFake() as server:
        yield server


@contextmanager
def serve(storage: dict[str, Any], fake: AnthropicFake) -> Iterator[str]:
    doc = {
        "gateway": {
            "api_keys": [
                {"key": KEY_A, "name": "alice", "workspace": "team-a"},
                {"key": KEY_B, "name": "bob", "workspace": "team-b"},
            ],
            "validate_responses": True,
        },
        "storage": storage,
        "model_list": [
            {"model_name": "main", "litellm_params": {"model": "anthropic/*", "api_base": fake.url, "api_key": "sk-up"}}
        ],
        "routing": {"default": "main"},
    }
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings_from_mapping(doc)), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not server.started:
        time.sleep(0.05)
    assert server.started, "gateway did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def ended(client: anthropic.Anthropic, batch_id: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        batch = client.messages.batches.retrieve(batch_id)
        if batch.processing_status == "ended":
            return batch
        time.sleep(0.05)
    raise AssertionError(f"batch {batch_id} did not end")


def requests(*custom_ids: str) -> list[Any]:
    return [{"custom_id": c, "params": {**PARAMS, "messages": [{"role": "user", "content": c}]}} for c in custom_ids]


def test_batch_runs_through_the_router_results_and_delete(database: dict[str, Any], fake: AnthropicFake) -> None:
    fake.script(
        Behavior(content=[Text("first answer")]),
        Behavior(status=400, error_message="upstream refused this one"),
        Behavior(content=[Text("third answer")]),
    )
    with serve(database, fake) as url:
        client = sdk(url)
        batch = client.messages.batches.create(requests=requests("a", "b", "c"))
        assert batch.id.startswith("msgbatch_01") and batch.type == "message_batch"
        assert batch.processing_status == "in_progress" and batch.results_url is None
        assert batch.request_counts.processing == 3 and batch.request_counts.succeeded == 0
        assert (batch.expires_at - batch.created_at).total_seconds() == 24 * 3600
        assert batch.ended_at is None and batch.cancel_initiated_at is None

        done = ended(client, batch.id)
        counts = done.request_counts
        assert (counts.processing, counts.succeeded, counts.errored, counts.canceled, counts.expired) == (0, 2, 1, 0, 0)
        assert done.ended_at is not None and done.ended_at >= done.created_at
        assert done.results_url == f"{url}/v1/messages/batches/{batch.id}/results"

        # each request went through the router to the fake, in order, with the deployment's key
        sent = [r.json["messages"][0]["content"] for r in fake.requests]
        assert sent == ["a", "b", "c"]
        assert all(r.header("x-api-key") == "sk-up" for r in fake.requests)
        assert all("stream" not in r.json for r in fake.requests)

        results = {r.custom_id: r.result for r in client.messages.batches.results(batch.id)}
        assert list(results) == ["a", "b", "c"]
        assert results["a"].type == "succeeded" and results["a"].message.content[0].text == "first answer"  # type: ignore[union-attr]
        assert results["c"].type == "succeeded" and results["c"].message.content[0].text == "third answer"  # type: ignore[union-attr]
        assert results["b"].type == "errored"
        assert results["b"].error.error.type == "invalid_request_error"
        assert results["b"].error.error.message == "upstream refused this one"

        # the beta surface is the same resource
        beta = client.beta.messages.batches.retrieve(batch.id)
        assert beta.id == batch.id and beta.processing_status == "ended"
        assert [r.custom_id for r in client.beta.messages.batches.results(batch.id)] == ["a", "b", "c"]

        raw = http(url).get(f"/v1/messages/batches/{batch.id}/results")
        assert raw.status_code == 200 and raw.headers["content-type"].startswith("application/binary")
        assert len(raw.text.splitlines()) == 3

        deleted = client.messages.batches.delete(batch.id)
        assert (deleted.id, deleted.type) == (batch.id, "message_batch_deleted")
        with pytest.raises(anthropic.NotFoundError):
            client.messages.batches.retrieve(batch.id)
        assert http(url).get(f"/v1/messages/batches/{batch.id}/results").status_code == 404
        with pytest.raises(anthropic.NotFoundError):
            client.messages.batches.delete(batch.id)


def test_refusals_before_the_batch_ends(database: dict[str, Any], fake: AnthropicFake) -> None:
    fake.default = replace(fake.default, latency_s=0.3)
    with serve(database, fake) as url:
        client = sdk(url)
        with pytest.raises(anthropic.BadRequestError, match="not unique"):
            client.messages.batches.create(requests=requests("x", "y", "x"))
        assert client.messages.batches.list().data == []  # nothing was stored

        batch = client.messages.batches.create(requests=requests("slow-1", "slow-2"))
        with pytest.raises(anthropic.BadRequestError, match="only a batch that has ended"):
            client.messages.batches.delete(batch.id)
        got = http(url).get(f"/v1/messages/batches/{batch.id}/results")
        assert got.status_code == 400 and got.json()["error"]["type"] == "invalid_request_error"
        with pytest.raises(anthropic.AnthropicError, match="results_url"):
            client.messages.batches.results(batch.id)  # the SDK refuses client-side while results_url is null
        assert ended(client, batch.id).request_counts.succeeded == 2

        empty = client.messages.batches.create(requests=[])
        assert empty.processing_status == "ended" and empty.request_counts.processing == 0
        assert list(client.messages.batches.results(empty.id)) == []


def test_cancel(database: dict[str, Any], fake: AnthropicFake) -> None:
    fake.default = replace(fake.default, latency_s=0.25)
    with serve(database, fake) as url:
        client = sdk(url)
        batch = client.messages.batches.create(requests=requests(*[f"r{i}" for i in range(6)]))
        canceling = client.messages.batches.cancel(batch.id)
        assert canceling.processing_status == "canceling" and canceling.cancel_initiated_at is not None
        done = ended(client, batch.id)
        counts = done.request_counts
        assert counts.canceled >= 4 and counts.succeeded + counts.canceled == 6 and counts.errored == 0
        assert done.cancel_initiated_at == canceling.cancel_initiated_at
        results = list(client.messages.batches.results(batch.id))
        assert [r.custom_id for r in results] == [f"r{i}" for i in range(6)]
        assert sum(r.result.type == "canceled" for r in results) == counts.canceled
        assert len(fake.requests) == counts.succeeded  # canceled requests never reached the upstream
        again = client.messages.batches.cancel(batch.id)  # cancel after the end: no change
        assert again.processing_status == "ended" and again.request_counts.canceled == counts.canceled


def test_list_pages_and_isolation(database: dict[str, Any], fake: AnthropicFake) -> None:
    with serve(database, fake) as url:
        client, other = sdk(url), sdk(url, KEY_B)
        created = [client.messages.batches.create(requests=requests(f"only-{i}")).id for i in range(5)]
        for batch_id in created:
            ended(client, batch_id)
        newest_first = list(reversed(created))

        first = client.messages.batches.list(limit=2)
        assert [b.id for b in first.data] == newest_first[:2] and first.has_more
        assert first.first_id == newest_first[0] and first.last_id == newest_first[1]
        pages = [[b.id for b in first.data]]
        page = first
        while page.has_next_page():
            page = page.get_next_page()
            pages.append([b.id for b in page.data])
        assert pages == [newest_first[:2], newest_first[2:4], newest_first[4:]]
        assert [b.id for b in client.beta.messages.batches.list(limit=2)] == newest_first  # auto-paging, beta surface
        before = client.messages.batches.list(before_id=newest_first[4], limit=2)
        assert [b.id for b in before.data] == newest_first[2:4]
        with pytest.raises(anthropic.NotFoundError):
            client.messages.batches.list(after_id="msgbatch_01nope")

        # another workspace sees nothing and can touch nothing
        assert other.messages.batches.list().data == []
        target = created[0]
        for call in (
            lambda: other.messages.batches.retrieve(target),
            lambda: other.messages.batches.cancel(target),
            lambda: other.messages.batches.delete(target),
            lambda: other.beta.messages.batches.retrieve(target),
        ):
            with pytest.raises(anthropic.NotFoundError):
                call()
        assert http(url, KEY_B).get(f"/v1/messages/batches/{target}/results").status_code == 404
        with pytest.raises(anthropic.NotFoundError):
            other.messages.batches.list(after_id=target)
        assert client.messages.batches.retrieve(target).request_counts.succeeded == 1  # untouched


def test_a_batch_interrupted_by_a_restart_resumes(database: dict[str, Any], fake: AnthropicFake) -> None:
    fake.default = replace(fake.default, latency_s=0.2)
    ids = [f"q{i}" for i in range(6)]
    with serve(database, fake) as url:
        client = sdk(url)
        batch = client.messages.batches.create(requests=requests(*ids))
        deadline = time.monotonic() + 10
        while len(fake.requests) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
    interrupted = len(fake.requests)
    assert 2 <= interrupted < 6
    with serve(database, fake) as url:  # same database, a new process-equivalent: the released lease is adopted
        client = sdk(url)
        done = ended(client, batch.id)
        assert done.request_counts.succeeded == 6
        results = list(client.messages.batches.results(batch.id))
        assert [r.custom_id for r in results] == ids and all(r.result.type == "succeeded" for r in results)
    sent = [r.json["messages"][0]["content"] for r in fake.requests]
    assert sorted(set(sent)) == ids  # every request ran; the one in flight at shutdown may have run twice
    assert len(sent) <= 7


class StubNative:
    """The native service's ``messages`` as the runner calls it: answers each request with a message echoing its
    prompt; ``gate`` (when set) holds every request until released."""

    def __init__(self) -> None:
        self.gate: asyncio.Event | None = None
        self.entered = asyncio.Event()
        self.seen: list[str] = []

    async def messages(self, body: dict[str, Any], raw: bytes, headers: Any) -> Response:
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()
        prompt = body["messages"][0]["content"]
        self.seen.append(prompt)
        message = {
            "id": f"msg_{prompt}",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": [{"type": "text", "text": f"re: {prompt}"}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 1, "output_tokens": 1},
        }
        return Response(orjson.dumps(message), media_type="application/json")


async def _with_store(database: dict[str, Any], work: Any) -> None:
    async with migrated_engine(database) as engine:
        await work(Store(engine))


async def _wait_ended(store: Store, batch_id: str) -> Record:
    for _ in range(400):
        record = await store.get("w", batches.KIND.type, batch_id)
        assert record is not None
        if record.doc["processing_status"] == "ended":
            return record
        await asyncio.sleep(0.025)
    raise AssertionError("batch did not end")


async def _results(store: Store, batch_id: str) -> list[dict[str, Any]]:
    lines = b"".join([chunk async for chunk in await batches.results(store, "w", batch_id)])
    return [orjson.loads(line) for line in lines.splitlines()]


def test_expiry_and_adoption_after_a_crash(database: dict[str, Any]) -> None:
    async def work(store: Store) -> None:
        # expiry: a batch past its expires_at ends with its unprocessed requests ``expired``
        native = StubNative()
        native.gate = asyncio.Event()
        async with batches.batch_runner(store, native) as runner:
            created = await batches.create(
                store, runner, "w", {"requests": requests("e1", "e2", "e3")}, {}, "http://gw"
            )
            batch_id = created["id"]
            await native.entered.wait()  # e1 is in flight
            await store.update("w", batches.KIND.type, batch_id, _expire)
            native.gate.set()
            record = await _wait_ended(store, batch_id)
        assert record.doc["remainder"] == "expired" and native.seen == ["e1"]
        shown = batches.response(record, "http://gw")
        assert shown["request_counts"] == {"processing": 0, "succeeded": 1, "errored": 0, "canceled": 0, "expired": 2}
        assert shown["results_url"] == f"http://gw/v1/messages/batches/{batch_id}/results"
        assert [r["result"]["type"] for r in await _results(store, batch_id)] == ["succeeded", "expired", "expired"]

        # a crash: runner A dies holding the lease (no clean release); once the lease has expired, runner B adopts
        crashed = StubNative()
        crashed.gate = asyncio.Event()  # never released: A is stuck in its first request
        a = batches.BatchRunner(store, crashed)
        created = await batches.create(store, a, "w", {"requests": requests("c1", "c2")}, {}, "http://gw")
        batch_id = created["id"]
        await crashed.entered.wait()
        for task in list(a._tasks.values()):  # the process vanishes: its tasks stop, its lease stays
            task.cancel()
        await asyncio.sleep(0.05)
        survivor = StubNative()
        b = batches.BatchRunner(store, survivor)
        assert await b.adopt_orphans() == []  # A's lease is still valid: not adopted
        await store.update("w", batches.KIND.type, batch_id, _lapse)
        async with batches.batch_runner(store, survivor):  # start-up adopts the orphan and resumes it
            record = await _wait_ended(store, batch_id)
        assert survivor.seen == ["c1", "c2"] and record.doc["tallies"]["succeeded"] == 2
        results = await _results(store, batch_id)
        assert [(r["custom_id"], r["result"]["message"]["content"][0]["text"]) for r in results] == [
            ("c1", "re: c1"),
            ("c2", "re: c2"),
        ]

    asyncio.run(_with_store(database, work))


async def _expire(record: Record) -> dict[str, Any]:
    return {**record.doc, "expires_at": "2000-01-01T00:00:00.000000Z"}


async def _lapse(record: Record) -> dict[str, Any]:
    return {**record.doc, "lease": {**record.doc["lease"], "until": "2000-01-01T00:00:00.000000Z"}}
