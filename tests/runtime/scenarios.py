"""The client side of the session-runtime scenarios (reference §5): only the official SDK's own helpers.

Importable (the installed SDK) and runnable as a script under another interpreter with another SDK release
(``python scenarios.py NAME '<json arguments>'`` prints the JSON result as its last line), so the same client code
runs on anthropic 2.14.0 and on the newest release. Imports nothing but the SDK and the standard library."""

from __future__ import annotations

import asyncio
import datetime
import json
import sys
import time
from typing import Any

import anthropic


def _sync(base_url: str, key: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=base_url, api_key=key, max_retries=0)


def _async(base_url: str, key: str) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=base_url, api_key=key, max_retries=1)


def _call(call: Any) -> dict[str, Any]:
    return {
        "name": call.name,
        "tool_use_id": call.tool_use_id,
        "posted": call.posted,
        "is_error": call.is_error,
        "confirmation": call.confirmation,
        "content": (call.result or {}).get("content"),
    }


def deltas(base_url: str, key: str, session_id: str, text: str) -> dict[str, Any]:
    """examples/managed-agents-streaming-deltas-manual.py: stream with previews, send, fold with the accumulator."""
    from anthropic.lib.sessions import accumulate_managed_agents_event

    client = _sync(base_url, key)
    seen: list[str] = []
    previews: list[str] = []
    snapshot: Any = None
    final = None
    with client.beta.sessions.events.stream(session_id, event_deltas=["agent.message"]) as stream:
        client.beta.sessions.events.send(
            session_id, events=[{"type": "user.message", "content": [{"type": "text", "text": text}]}]
        )
        for event in stream:
            seen.append(event.type)
            snapshot = accumulate_managed_agents_event(snapshot, event)
            if event.type == "event_delta" and snapshot is not None:
                previews.append("".join(getattr(b, "text", "") for b in snapshot.content))
            if event.type == "agent.message":
                final = "".join(getattr(b, "text", "") for b in event.content)
            if event.type == "span.model_request_end":
                snapshot = None
            if event.type in ("session.status_idle", "session.error"):
                break
    return {"types": seen, "previews": previews, "final": final}


async def runner(base_url: str, key: str, session_id: str, workdir: str, text: str, max_idle: float) -> dict[str, Any]:
    """observe-tool-calls: send a message, then run the agent toolset with ``tool_runner`` until it goes idle."""
    from anthropic.lib.tools.agent_toolset import AgentToolContext, beta_agent_toolset_20260401

    client = _async(base_url, key)
    await client.beta.sessions.events.send(
        session_id, events=[{"type": "user.message", "content": [{"type": "text", "text": text}]}]
    )
    calls = []
    async with AgentToolContext(workdir=workdir) as env:
        run = client.beta.sessions.events.tool_runner(
            session_id, tools=[*beta_agent_toolset_20260401(env)], max_idle=max_idle
        )
        async for call in run:
            calls.append(_call(call))
    return {"calls": calls, "ended_at": time.time()}


async def app_tools(base_url: str, key: str, session_id: str, max_idle: float) -> dict[str, Any]:
    """The app side of a split client: a ``tool_runner`` owning only the custom tool ``current_time``."""
    client = _async(base_url, key)

    @anthropic.beta_async_tool
    async def current_time() -> str:
        """The current time (UTC)."""
        return "2026-12-04T12:00:00Z"

    calls = [
        _call(c)
        async for c in client.beta.sessions.events.tool_runner(session_id, tools=[current_time], max_idle=max_idle)
    ]
    return {"calls": calls}


async def worker(
    base_url: str,
    key: str,
    environment_id: str,
    environment_key: str,
    workdir: str,
    max_idle: float,
    seconds: float,
    custom: bool,
    session_id: str | None = None,
    until_idle: int = 0,
) -> dict[str, Any]:
    """The self-hosted sandbox worker example: ``work.worker(...).run()``, cancelled after ``seconds``, or once
    ``session_id`` has reached its ``until_idle``-th ``end_turn`` and the worker had ``max_idle`` + 2 s to let go."""
    from anthropic.lib.tools.agent_toolset import beta_agent_toolset_20260401

    client = _async(base_url, key)

    @anthropic.beta_async_tool
    async def current_time() -> str:
        """The current time (UTC)."""
        return "2026-12-04T12:00:00Z"

    def tools(ctx: Any) -> list[Any]:
        return [*beta_agent_toolset_20260401(ctx), *([current_time] if custom else [])]

    served = client.beta.environments.work.worker(
        environment_id=environment_id,
        environment_key=environment_key,
        tools=tools,
        workdir=workdir,
        max_idle=max_idle,
    )
    started = time.time()
    task = asyncio.ensure_future(served.run())
    while not task.done() and time.time() - started < seconds:
        if session_id and until_idle:
            events = [e async for e in client.beta.sessions.events.list(session_id, limit=1000)]
            ends = [e for e in events if e.type == "session.status_idle" and e.stop_reason.type == "end_turn"]
            if len(ends) >= until_idle:
                await asyncio.sleep(max_idle + 2)
                break
        await asyncio.sleep(0.2)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return {"ran_for": time.time() - started, "at": datetime.datetime.now(datetime.UTC).isoformat()}


async def crash_then_worker(
    base_url: str, key: str, environment_id: str, environment_key: str, workdir: str, session_id: str
) -> dict[str, Any]:
    """A6: a poller claims and acks an item, then dies (no heartbeat, no stop); a worker gets the same item once the
    lease expired; the dead holder's late heartbeat is refused with 412 and the server's lease state."""
    client = _async(base_url, key)
    claimed = None
    poller = client.beta.environments.work.poller(
        environment_id=environment_id, environment_key=environment_key, auto_stop=False
    )
    async for item in poller:
        claimed = item
        break
    assert claimed is not None
    started = time.time()
    worker_task = asyncio.ensure_future(
        worker(base_url, key, environment_id, environment_key, workdir, 1, 60, False, session_id, 1)
    )
    keyed = client.with_options(api_key=environment_key)
    stale: dict[str, Any] = {}
    while not worker_task.done():
        current = await keyed.beta.environments.work.list(environment_id)
        if any(w.id == claimed.id and w.state == "active" for w in current.data):
            try:
                await keyed.beta.environments.work.heartbeat(
                    claimed.id, environment_id=environment_id, expected_last_heartbeat="NO_HEARTBEAT"
                )
            except anthropic.APIStatusError as error:
                stale = {"status": error.status_code, "error": error.response.json()["error"]}
            break
        await asyncio.sleep(0.2)
    await worker_task
    return {"claimed": claimed.id, "stale": stale, "reclaimed_after": time.time() - started}


SCENARIOS: dict[str, Any] = {
    "deltas": deltas,
    "runner": runner,
    "worker": worker,
    "app_tools": app_tools,
    "crash_then_worker": crash_then_worker,
}


def run(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    result = SCENARIOS[name](**arguments)
    if asyncio.iscoroutine(result):
        result = asyncio.run(result)
    return dict(result)


if __name__ == "__main__":
    output = run(sys.argv[1], json.loads(sys.argv[2]))
    print(json.dumps({"sdk": anthropic.__version__, **output}))
