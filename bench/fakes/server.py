"""`FakeServer`: an aiohttp app on 127.0.0.1 in a background thread with its own event loop.

Usable from sync code (`with AnthropicFake() as fake:`), from async code (`async with ...`), and next to a
uvicorn-served gateway, since the fake never shares the caller's loop. Subclasses add the wire routes.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
import time
from collections.abc import Callable, Hashable, Sequence
from types import TracebackType
from typing import Any, ClassVar, Self

import orjson
from aiohttp import web

from bench.fakes.behavior import Behavior, Script
from bench.fakes.recording import RecordedRequest, Recorder, parse_json
from bench.fakes.sending import Template, apply_latency, error_response, reset_connection

LoopFactory = Callable[[], asyncio.AbstractEventLoop]


class FakeServer:
    """Base of `AnthropicFake` and `OpenAIFake`; see the package docstring for the shared knobs."""

    kind: ClassVar[str] = "fake"
    default_models: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        default: Behavior | None = None,
        *,
        name: str | None = None,
        validate: bool = True,
        record: bool = True,
        models: Sequence[str] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        loop_factory: LoopFactory | None = None,
        shutdown_timeout: float = 0.1,
    ) -> None:
        self.name = name or f"{self.kind}-fake"
        self.validate = validate
        self.models: tuple[str, ...] = tuple(models) if models is not None else self.default_models
        self.host = host
        self._initial_default = default or Behavior()
        self._script = Script(self._initial_default)
        self._recorder = Recorder(record)
        self._requested_port = port
        self._loop_factory = loop_factory or asyncio.new_event_loop
        self._shutdown_timeout = shutdown_timeout
        self._ids = itertools.count(1)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._start_error: BaseException | None = None
        self._templates: dict[Hashable, tuple[Behavior, Template]] = {}
        self.created = int(time.time())

    # -- driving the fake from the test --

    @property
    def default(self) -> Behavior:
        """The behaviour used when the script is empty (assignable)."""
        return self._script.default

    @default.setter
    def default(self, behavior: Behavior) -> None:
        self._script.default = behavior

    def script(self, *behaviors: Behavior) -> None:
        """Queue behaviours, consumed one per inference request in order."""
        self._script.push(*behaviors)

    @property
    def pending(self) -> int:
        """Scripted behaviours not consumed yet."""
        return self._script.pending

    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of the requests received so far (control endpoints excluded)."""
        return self._recorder.snapshot()

    def reset(self) -> None:
        """Forget recorded requests and the script; restore the constructor's default behaviour."""
        self._recorder.clear()
        self._script.clear()
        self._script.default = self._initial_default

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the fake is not running")
        return self._port

    @property
    def url(self) -> str:
        """`http://127.0.0.1:<port>`, no trailing slash."""
        return f"http://{self.host}:{self.port}"

    # -- lifecycle --

    def start(self) -> Self:
        if self._thread is not None:
            raise RuntimeError("already started")
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), name=f"{self.name}-loop", daemon=True)
        self._thread.start()
        if not ready.wait(30):
            raise RuntimeError(f"{self.name} did not start within 30 s")
        if self._start_error is not None:
            self._thread.join()
            self._thread = None
            raise RuntimeError(f"{self.name} failed to start") from self._start_error
        return self

    def stop(self) -> None:
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
        self._thread = None
        self._port = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        return await asyncio.to_thread(self.start)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await asyncio.to_thread(self.stop)

    def _run(self, ready: threading.Event) -> None:
        loop = self._loop_factory()
        asyncio.set_event_loop(loop)
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:
            self._start_error = exc
            ready.set()
            loop.close()
            return
        ready.set()
        try:
            loop.run_forever()
        finally:
            if self._runner is not None:
                loop.run_until_complete(self._runner.cleanup())
            tasks = asyncio.all_tasks(loop)
            for task in tasks:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _serve(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.add_routes(
            [
                web.get("/_fake/requests", self._control_requests),
                web.get("/_fake/script", self._control_get_script),
                web.post("/_fake/script", self._control_script),
                web.post("/_fake/reset", self._control_reset),
                web.get("/", self._root),
                *self.routes(),
                web.route("*", "/{tail:.*}", self._not_found),
            ]
        )
        self._runner = web.AppRunner(
            app, handler_cancellation=True, shutdown_timeout=self._shutdown_timeout, access_log=None
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self._requested_port, backlog=2048)
        await site.start()
        self._port = int(self._runner.addresses[0][1])

    # -- what subclasses provide --

    def routes(self) -> list[web.AbstractRouteDef]:
        raise NotImplementedError

    def error_body(self, status: int, error_type: str, message: str) -> bytes:
        raise NotImplementedError

    def base_headers(self) -> dict[str, str]:
        """Headers on every wire response (e.g. a request id)."""
        return {}

    # -- shared request handling --

    def next_id(self) -> int:
        return next(self._ids)

    async def receive(self, request: web.Request) -> tuple[bytes, Any]:
        """Read, parse and record the request body."""
        raw = await request.read()
        parsed = parse_json(raw)
        self._recorder.record(request, raw, parsed)
        return raw, parsed

    def next_behavior(self) -> Behavior:
        return self._script.next()

    def cached_template(self, key: Hashable, behavior: Behavior, build: Callable[[], Template]) -> Template:
        """Build once per key for the default behaviour (the benchmark hot path); scripted ones are one-offs."""
        if behavior is not self.default:
            return build()
        cached = self._templates.get(key)
        if cached is not None and cached[0] is behavior:
            return cached[1]
        template = build()
        if len(self._templates) > 256:
            self._templates.clear()
        self._templates[key] = (behavior, template)
        return template

    def error(self, status: int, error_type: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
        return error_response(
            status, self.error_body(status, error_type, message), {**self.base_headers(), **(headers or {})}
        )

    async def preamble(self, request: web.Request, behavior: Behavior) -> web.StreamResponse | None:
        """Latency, then a reset (status 0) or an error response; None means: answer normally."""
        await apply_latency(behavior)
        if behavior.status == 0:
            await reset_connection(request)
        if behavior.is_error:
            return self.error(
                behavior.status,
                behavior.resolved_error_type(),
                behavior.resolved_error_message(),
                behavior.response_headers(),
            )
        return None

    async def _root(self, request: web.Request) -> web.StreamResponse:
        await self.receive(request)
        return web.Response(text=f"{self.name} ok\n")

    async def _not_found(self, request: web.Request) -> web.StreamResponse:
        await self.receive(request)
        return self.error(404, "not_found_error", f"{self.name}: no route for {request.method} {request.path}")

    # -- control endpoints (not recorded) --

    async def _control_requests(self, request: web.Request) -> web.StreamResponse:
        body = orjson.dumps([r.to_json() for r in self._recorder.snapshot()])
        return web.Response(body=body, content_type="application/json")

    async def _control_get_script(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"pending": self.pending, "default": self.default.to_json()})

    async def _control_script(self, request: web.Request) -> web.StreamResponse:
        try:
            data = orjson.loads(await request.read())
            items = data if isinstance(data, list) else data.get("behaviors", [])
            behaviors = [Behavior.from_json(item) for item in items]
            default = Behavior.from_json(data["default"]) if isinstance(data, dict) and "default" in data else None
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        if default is not None:
            self.default = default
        self.script(*behaviors)
        return web.json_response({"pending": self.pending})

    async def _control_reset(self, request: web.Request) -> web.StreamResponse:
        self.reset()
        return web.json_response({"ok": True})
