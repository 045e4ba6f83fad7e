"""Issue 17, point 9: field size limits (Anthropic's documented ones) on stored resources, and memory that comes back
down after many large requests."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.core.conftest import assert_envelope
from tests.hostile.conftest import KEY_A, Gateway

MiB = 1024 * 1024
AGENT = {"name": "sized", "model": "claude-sonnet-4-6"}


def create(gateway: Gateway, path: str, body: dict[str, object]) -> httpx.Response:
    return httpx.post(f"{gateway.url}{path}", json=body, headers={"x-api-key": KEY_A}, timeout=60)


@pytest.mark.parametrize(
    ("path", "field", "limit"),
    [
        ("/v1/agents", "name", 256),
        ("/v1/agents", "description", 2048),
        ("/v1/agents", "system", 100_000),
        ("/v1/environments", "description", 2048),
        ("/v1/memory_stores", "name", 255),  # (the contract's own, tighter, limit for memory stores)
        ("/v1/memory_stores", "description", 1024),
        ("/v1/vaults", "display_name", 256),
    ],
)
def test_a_field_over_its_limit_is_a_400(keyed_gateway: Gateway, path: str, field: str, limit: int) -> None:
    base: dict[str, object] = {"/v1/agents": AGENT, "/v1/vaults": {"display_name": "sized"}}.get(path, {"name": "s"})
    assert create(keyed_gateway, path, {**base, field: "x" * limit}).status_code == 200
    for size in (limit + 1, 30 * MiB):
        message = assert_envelope(
            create(keyed_gateway, path, {**base, field: "x" * size}), 400, "invalid_request_error"
        )
        assert f"'{field}'" in message and str(limit) in message


@pytest.mark.parametrize(
    ("metadata", "what"),
    [
        ({f"k{i}": "v" for i in range(17)}, "16"),
        ({"k" * 65: "v"}, "64"),
        ({"k": "v" * 513}, "512"),
    ],
    ids=["pairs", "key", "value"],
)
def test_metadata_limits(keyed_gateway: Gateway, metadata: dict[str, str], what: str) -> None:
    message = assert_envelope(
        create(keyed_gateway, "/v1/agents", {**AGENT, "metadata": metadata}), 400, "invalid_request_error"
    )
    assert "metadata" in message and what in message


def test_messages_are_not_limited_by_the_resource_rules(keyed_gateway: Gateway) -> None:
    body = {"model": "claude-sonnet-4-6", "system": "x" * 200_000, "messages": [{"role": "user", "content": "hi"}]}
    response = create(keyed_gateway, "/v1/messages/count_tokens", body)
    assert response.status_code != 400, response.text  # (no upstream here: a 5xx from the missing upstream is fine)


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


RSS_BOUND = 150 * MiB  # stated bound: after 200 requests of 4 MiB each (800 MiB in all), RSS is within this of idle


def test_memory_comes_back_down_after_200_large_requests(keyed_gateway: Gateway) -> None:
    big = {**AGENT, "description": "d" * (4 * MiB)}  # refused after parsing: the whole body is read and parsed
    nested = {
        **AGENT,
        "tools": [{"type": "custom", "name": f"t{i}", "input_schema": {"type": "object"}} for i in range(20_000)],
    }
    for _ in range(3):  # warm up every code path first
        create(keyed_gateway, "/v1/agents", big)
        create(keyed_gateway, "/v1/agents", nested)
    idle = rss_bytes(keyed_gateway.pid)
    bodies = [big if i % 2 else nested for i in range(200)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = list(pool.map(lambda body: create(keyed_gateway, "/v1/agents", body).status_code, bodies))
    assert set(statuses) <= {400}, statuses
    after = rss_bytes(keyed_gateway.pid)
    print(f"RSS idle {idle / MiB:.0f} MiB, after 200 large requests {after / MiB:.0f} MiB")  # for the notes (-s)
    assert after - idle < RSS_BOUND, (idle // MiB, after // MiB)
