"""Request-body validation cost: the gateway's jsonschema-rs validator vs python-jsonschema (what connexion uses).

Both validate the same realistic Claude Code-style Messages request (system prompt, tools, a few turns) against
the same converted schema from spec/openapi.yaml, in the same run, so the ratio is meaningful on a noisy machine.
Also reports the in-process cost of a whole validated POST /v1/messages through the app (501 until routing lands)
against a trivial GET /healthcheck, measured in the same run.

    .venv/bin/python bench/validation.py [--n 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from typing import Any

import httpx
import jsonschema
import jsonschema_rs

from codegen.spec import SPEC, load_yaml
from gateway.app import create_app
from gateway.settings import settings_from_mapping
from gateway.validation import oas30_to_json_schema

BODY: dict[str, Any] = {
    "model": "claude-sonnet-5-5",
    "max_tokens": 32000,
    "stream": True,
    "system": [
        {"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.332; cc_entrypoint=cli"},
        {"type": "text", "text": "You are Claude Code. " * 20, "cache_control": {"type": "ephemeral"}},
    ],
    "tools": [
        {
            "name": f"tool_{i}",
            "description": "Runs a command and returns its output. " * 3,
            "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]},
        }
        for i in range(6)
    ],
    "messages": [
        {"role": "user", "content": [{"type": "text", "text": "List the files in this repository."}]},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "toolu_01", "name": "tool_0", "input": {"command": "ls"}}],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01", "content": "README.md"}]},
    ],
    "thinking": {"type": "adaptive"},
    "output_config": {"effort": "high"},
    "metadata": {"user_id": "user_0123"},
}


def _schema() -> dict[str, Any]:
    doc = load_yaml(SPEC)
    body = doc["paths"]["/v1/messages"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    return {**oas30_to_json_schema(body), "components": oas30_to_json_schema(doc["components"])}


def _per_call(fn: Any, n: int) -> float:
    samples = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        samples.append((time.perf_counter() - start) / n)
    return statistics.median(samples)


async def _requests(n: int) -> tuple[float, float]:
    app = create_app(settings_from_mapping({"gateway": {}}))
    transport = httpx.ASGITransport(app=app)
    payload = json.dumps(BODY).encode()
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:

        async def post() -> None:
            r = await client.post("/v1/messages", content=payload, headers={"content-type": "application/json"})
            assert r.status_code == 501, r.text

        async def get() -> None:
            r = await client.get("/healthcheck")
            assert r.status_code == 200

        results = []
        for call in (get, post):
            for _ in range(50):
                await call()
            start = time.perf_counter()
            for _ in range(n):
                await call()
            results.append((time.perf_counter() - start) / n)
    return results[0], results[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2000)
    args = parser.parse_args()
    schema = _schema()
    size = len(json.dumps(BODY))
    rust = jsonschema_rs.Draft4Validator(schema)
    python = jsonschema.Draft4Validator(schema)
    assert rust.is_valid(BODY) and python.is_valid(BODY)
    t_rust = _per_call(lambda: rust.is_valid(BODY), args.n)
    t_py = _per_call(lambda: python.is_valid(BODY), max(args.n // 20, 20))
    print(f"Messages request body: {size} bytes")
    print(f"validate, python-jsonschema Draft4 (baseline): {t_py * 1e6:9.1f} us")
    print(f"validate, jsonschema-rs Draft4 (gateway):      {t_rust * 1e6:9.1f} us  ratio {t_py / t_rust:6.1f}x faster")
    get, post = asyncio.run(_requests(max(args.n // 4, 100)))
    print(f"in-process GET /healthcheck (baseline):        {get * 1e6:9.1f} us")
    print(f"in-process POST /v1/messages, validated:       {post * 1e6:9.1f} us  ratio {post / get:6.2f}x the GET")


if __name__ == "__main__":
    main()
