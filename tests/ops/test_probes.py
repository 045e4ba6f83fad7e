"""/healthz, /readyz and /health/readiness on a real gateway process: database and Redis checked, each reported."""

from __future__ import annotations

from pathlib import Path

import httpx
import redis

from bench.fakes import AnthropicFake
from tests.gateway_process import free_port
from tests.ops.conftest import config, gateway

REDIS_URL = "redis://127.0.0.1:6379/0"


def with_redis(upstream: str, url: str) -> dict[str, object]:
    doc = config(upstream)
    doc["router_settings"] = {"redis_url": url}
    return doc


def test_probes_report_database_and_redis(upstream: AnthropicFake, tmp_path: Path) -> None:
    redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping()  # .ci/run starts Redis; without it this test fails
    with gateway(with_redis(upstream.url, REDIS_URL), tmp_path) as gw:
        assert httpx.get(f"{gw.url}/healthz").json() == {"status": "alive"}
        ready = httpx.get(f"{gw.url}/readyz")
        assert ready.status_code == 200
        assert ready.json() == {
            "status": "ready",
            "checks": {
                "database": {"status": "ok", "detail": None},
                "redis": {"status": "ok", "detail": None},
                "drain": {"status": "ok", "detail": None},
            },
        }
        readiness = httpx.get(f"{gw.url}/health/readiness").json()  # LiteLLM's path, in the contract
        assert readiness["status"] == "ready" and set(readiness["checks"]) == {"spec", "database", "redis", "drain"}
        assert httpx.post(f"{gw.url}/readyz").status_code == 405


def test_unreachable_redis_makes_the_gateway_unready(upstream: AnthropicFake, tmp_path: Path) -> None:
    closed = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    with gateway(with_redis(upstream.url, closed), tmp_path) as gw:
        ready = httpx.get(f"{gw.url}/readyz", timeout=10)
        assert ready.status_code == 503
        assert ready.json()["type"] == "error" and "redis" in ready.json()["error"]["message"]
        readiness = httpx.get(f"{gw.url}/health/readiness", timeout=10).json()
        assert readiness["status"] == "not_ready"
        assert readiness["checks"]["redis"]["status"] == "fail" and readiness["checks"]["database"]["status"] == "ok"
        assert httpx.get(f"{gw.url}/healthz").status_code == 200  # alive all the same
