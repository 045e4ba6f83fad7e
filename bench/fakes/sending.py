"""Writing a response the way a `Behavior` asks: whole, delayed, stalled, reset or with a garbage frame.

Responses are rendered as a list of frames (SSE events, or one JSON body), from templates that carry two markers
substituted per request: the response id and the input-token count (see `Template`).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NoReturn

from aiohttp import web

from bench.fakes.behavior import Behavior

ID_MARK = "fakeidmarker000000000000"  # stands for the per-request id inside templates
TOKENS_MARK = 999_999_937  # stands for the per-request input-token count
TOTAL_MARK = 999_999_929  # OpenAI: stands for prompt + completion tokens


@dataclass(frozen=True, slots=True)
class Template:
    """Frames with markers; `fill` substitutes them only in the frames that contain one."""

    frames: tuple[bytes, ...]
    marked: tuple[int, ...]

    @classmethod
    def of(cls, frames: Sequence[bytes]) -> Template:
        marks = (ID_MARK.encode(), str(TOKENS_MARK).encode(), str(TOTAL_MARK).encode())
        marked = tuple(i for i, f in enumerate(frames) if any(m in f for m in marks))
        return cls(tuple(frames), marked)

    def fill(self, response_id: str, input_tokens: int, output_tokens: int = 0) -> list[bytes]:
        frames = list(self.frames)
        for i in self.marked:
            frames[i] = (
                frames[i]
                .replace(ID_MARK.encode(), response_id.encode())
                .replace(str(TOKENS_MARK).encode(), str(input_tokens).encode())
                .replace(str(TOTAL_MARK).encode(), str(input_tokens + output_tokens).encode())
            )
        return frames


async def park() -> NoReturn:
    """Wait until cancelled (the client left, or the fake is stopping)."""
    await asyncio.Event().wait()
    raise AssertionError("unreachable: nothing sets this event")


async def reset_connection(request: web.Request) -> NoReturn:
    """Flush what was written, then abort the TCP connection with an RST (SO_LINGER 0) and wait to be cancelled."""
    transport = request.transport
    if transport is not None:
        for _ in range(1000):
            if not transport.get_write_buffer_size():
                break
            await asyncio.sleep(0.001)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    await park()


async def apply_latency(behavior: Behavior) -> None:
    if behavior.latency_s > 0:
        await asyncio.sleep(behavior.latency_s)


def error_response(status: int, body: bytes, headers: Mapping[str, str]) -> web.Response:
    return web.Response(status=status, body=body, headers={"content-type": "application/json", **headers})


async def client_gone() -> NoReturn:
    """The client closed the connection under a write: wait for aiohttp to cancel the handler (no error log)."""
    await park()


async def send_stream(
    request: web.Request,
    behavior: Behavior,
    frames: Sequence[bytes],
    headers: Mapping[str, str],
    malformed_frame: bytes,
    error_frame: bytes,
) -> web.StreamResponse:
    """Send SSE `frames` (headers first, right after the behaviour's latency), applying the event knobs."""
    try:
        return await _send_stream(request, behavior, frames, headers, malformed_frame, error_frame)
    except ConnectionResetError:
        await client_gone()


async def _send_stream(
    request: web.Request,
    behavior: Behavior,
    frames: Sequence[bytes],
    headers: Mapping[str, str],
    malformed_frame: bytes,
    error_frame: bytes,
) -> web.StreamResponse:
    resp = web.StreamResponse(status=200, headers=headers)
    await resp.prepare(request)
    if not behavior.knobbed:
        await resp.write(b"".join(frames))
        await resp.write_eof()
        return resp
    n = len(frames)
    for i in range(n + 1):
        if behavior.malformed_after_events == i:
            await resp.write(malformed_frame)
        if behavior.error_after_events == i:
            await resp.write(error_frame)
            break
        if behavior.reset_after_events == i:
            await reset_connection(request)
        if behavior.stall_after_events == i:
            await park()
        if i == n:
            break
        if i and behavior.event_delay_s > 0:
            await asyncio.sleep(behavior.event_delay_s)
        await resp.write(frames[i])
    await resp.write_eof()
    return resp


async def send_body(
    request: web.Request, behavior: Behavior, body: bytes, headers: Mapping[str, str], malformed_body: bytes
) -> web.StreamResponse:
    """Send a JSON body; reset/stall at 0 send nothing, at >= 1 the headers and the first half of the body."""
    if behavior.malformed_after_events is not None:
        body = malformed_body
    all_headers = {"content-type": "application/json", **headers}
    cut = behavior.reset_after_events if behavior.reset_after_events is not None else behavior.stall_after_events
    if cut is None:
        return web.Response(status=200, body=body, headers=all_headers)
    if cut > 0:
        resp = web.StreamResponse(status=200, headers=all_headers)
        resp.content_length = len(body)
        try:
            await resp.prepare(request)
            await resp.write(body[: len(body) // 2])
        except ConnectionResetError:
            await client_gone()
    if behavior.reset_after_events is not None:
        await reset_connection(request)
    await park()
