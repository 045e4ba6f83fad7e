"""A fake Anthropic host: a real aiohttp HTTP + WebSocket server on 127.0.0.1 that records what it receives.

Each :class:`FakeUpstream` runs its own server in a background thread (its own event loop), so tests can drive the
gateway with ordinary synchronous clients. What the fake answers is chosen per request path with :meth:`script`
(an aiohttp handler); unscripted paths get ``200 {"ok": true, "upstream": <name>}``. Every request is recorded with
its raw request line target, raw headers, body (or its size and hash when large) and the arrival time of each body
chunk. The voice path is a WebSocket endpoint that records frames and close codes.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

Handler = Callable[[web.Request, "Received"], Awaitable[web.StreamResponse]]
VOICE_PATH = "/api/ws/speech_to_text/voice_stream"
KEEP_BODY_BYTES = 1024 * 1024


@dataclass
class Received:
    upstream: str
    method: str
    target: str  # the raw request-target (path and query as sent)
    headers: list[tuple[str, str]]
    body: bytes = b""
    size: int = 0
    sha256: str = ""
    chunk_times: list[float] = field(default_factory=list)
    ws_frames: list[tuple[str, Any]] = field(default_factory=list)
    ws_close_code: int | None = None

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        return values[0] if values else None

    def header_names(self) -> set[str]:
        return {k.lower() for k, _v in self.headers}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class FakeUpstream:
    def __init__(self, name: str) -> None:
        self.name = name
        self.records: list[Received] = []
        self.scripts: dict[str, Handler] = {}
        self.ws_script: Callable[[web.WebSocketResponse, Received], Awaitable[None]] | None = None
        self.loop = asyncio.new_event_loop()
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self.loop.run_forever, name=f"fake-{name}", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeUpstream:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(10)
        return self

    async def _start(self) -> None:
        app = web.Application(client_max_size=1024**4)
        app.router.add_route("GET", VOICE_PATH, self._voice)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)

    def reset(self) -> None:
        self.records.clear()
        self.scripts.clear()
        self.ws_script = None

    def script(self, path: str, handler: Handler) -> None:
        self.scripts[path] = handler

    def received(self, path_prefix: str = "") -> list[Received]:
        return [r for r in self.records if r.target.startswith(path_prefix)]

    async def read_body(self, request: web.Request, record: Received) -> None:
        digest = hashlib.sha256()
        kept = bytearray()
        async for chunk in request.content.iter_any():
            record.chunk_times.append(time.monotonic())
            record.size += len(chunk)
            digest.update(chunk)
            if len(kept) < KEEP_BODY_BYTES:
                kept += chunk
        record.body = bytes(kept)
        record.sha256 = digest.hexdigest()

    def _record(self, request: web.Request) -> Received:
        record = Received(
            upstream=self.name,
            method=request.method,
            target=request.raw_path,
            headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.raw_headers],
        )
        self.records.append(record)
        return record

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        record = self._record(request)
        handler = self.scripts.get(request.path)
        if handler is not None:
            return await handler(request, record)
        await self.read_body(request, record)
        return web.json_response({"ok": True, "upstream": self.name})

    async def _voice(self, request: web.Request) -> web.StreamResponse:
        record = self._record(request)
        if "upgrade" not in request.headers.get("Connection", "").lower():
            return web.json_response({"error": "websocket only"}, status=426)
        if request.query.get("reject"):
            return web.json_response({"type": "error", "error": {"type": "authentication_error"}}, status=401)
        ws = web.WebSocketResponse(protocols=("stt.v1",), autoclose=False)
        await ws.prepare(request)
        if self.ws_script is not None:
            await self.ws_script(ws, record)
            return ws
        await self.voice_echo(ws, record)
        return ws

    async def voice_echo(self, ws: web.WebSocketResponse, record: Received) -> None:
        """Binary audio up -> TranscriptText down; CloseStream -> TranscriptEndpoint then close 1000."""
        received_bytes = 0
        async for msg in ws:
            if msg.type == WSMsgType.BINARY:
                record.ws_frames.append(("binary", len(msg.data)))
                received_bytes += len(msg.data)
                await ws.send_str(json.dumps({"type": "TranscriptText", "data": f"{received_bytes} bytes"}))
            elif msg.type == WSMsgType.TEXT:
                frame = json.loads(msg.data)
                record.ws_frames.append(("text", frame))
                if frame.get("type") == "CloseStream":
                    await ws.send_str(json.dumps({"type": "TranscriptEndpoint"}))
                    await ws.close(code=4000 + len(record.ws_frames), message=b"finalized")
                    return
        # the client closed first (the iteration ends on its close frame): note its code, then complete the close
        record.ws_close_code = ws.close_code
        if not ws.closed:
            await ws.close()
