"""The voice WebSocket relay: ``/api/ws/speech_to_text/voice_stream`` to the configured upstream, frames both ways.

The upstream connection is opened before the client's upgrade is accepted, so an upstream refusal reaches the client
as the same HTTP status (the client reports "WebSocket upgrade rejected with HTTP <status>" and does not retry 4xx);
an unreachable upstream is refused with 502 and a timeout with 504, each with the Anthropic error envelope when the
server supports denial responses. Then binary frames (PCM audio) and text frames (``KeepAlive``, ``CloseStream`` up;
transcripts down) are relayed unchanged, and a close on either side closes the other with the same code and
reason. Codes that cannot be sent on the wire are mapped: 1005 (no status) becomes 1000, an upstream that vanished
without a close frame (1006) becomes 1011.

In local mode the upgrade is refused with 403: the gateway has no speech-to-text engine of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import aiohttp
from starlette.responses import Response
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState
from yarl import URL

from gateway.errors import InvalidRequest, error_body, error_type_for
from gateway.proxy.config import Timeouts
from gateway.proxy.forward import request_target, upstream_url
from gateway.proxy.headers import upstream_request_headers
from gateway.proxy.operations import VOICE
from gateway.proxy.service import WS_MAX_MESSAGE_BYTES, ProxyService, service_of
from gateway.request_id import new_request_id

logger = logging.getLogger(__name__)

NORMAL = 1000
NO_STATUS = 1005
ABNORMAL = 1006
INTERNAL = 1011
UNSENDABLE = {NO_STATUS: NORMAL, ABNORMAL: INTERNAL, 1015: INTERNAL}


def sendable(code: int | None) -> int:
    if code is None:
        return NORMAL
    return UNSENDABLE.get(code, code)


async def _refuse(websocket: WebSocket, status: int, message: str) -> None:
    """Refuse the upgrade with an HTTP status and the error envelope (a plain 403 if denial is unsupported)."""
    body = error_body(error_type_for(status), message, new_request_id())
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(Response(body, status_code=status, media_type="application/json"))
    else:
        await websocket.close(code=1008, reason=message[:120])


async def voice_relay(websocket: WebSocket) -> None:
    """Starlette WebSocket endpoint for the voice stream."""
    service = service_of(websocket.scope)
    if service.is_local(VOICE.category):
        await _refuse(websocket, 403, "voice needs Anthropic: the voice category is in local mode on this gateway")
        return
    await Relay(service, websocket).run()


class Relay:
    def __init__(self, service: ProxyService, websocket: WebSocket) -> None:
        self.service = service
        self.websocket = websocket

    async def run(self) -> None:
        websocket = self.websocket
        config = self.service.config
        upstream = config.upstream_for(VOICE.category, VOICE.role)
        try:
            target, query = request_target(websocket.scope)
        except InvalidRequest as exc:
            await _refuse(websocket, 400, exc.message)
            return
        url = upstream_url(upstream, target, query, websocket=True)
        headers = [
            (k.decode("latin-1"), v.decode("latin-1"))
            for k, v in upstream_request_headers(
                websocket.scope["headers"],
                forward_cookies=VOICE.forwards_cookies,
                is_gateway_key=self.service.is_gateway_key,
                websocket=True,
            )
        ]
        timeouts = config.category(VOICE.category).timeouts
        try:
            async with asyncio.timeout(timeouts.connect + timeouts.read):
                upstream_ws = await self._connect(url, headers, timeouts)
        except aiohttp.WSServerHandshakeError as exc:
            await _refuse(websocket, exc.status if exc.status >= 400 else 502, "upstream refused the WebSocket upgrade")
            return
        except TimeoutError:
            await _refuse(websocket, 504, f"upstream {upstream.origin} did not answer in time")
            return
        except (aiohttp.ClientError, OSError) as exc:
            logger.warning("voice upstream %s failed: %s", upstream.origin, type(exc).__name__)
            await _refuse(websocket, 502, f"upstream {upstream.origin} is unreachable")
            return
        async with upstream_ws:
            await websocket.accept(subprotocol=upstream_ws.protocol)
            await self._pump(upstream_ws)

    async def _connect(
        self, url: URL, headers: list[tuple[str, str]], timeouts: Timeouts
    ) -> aiohttp.ClientWebSocketResponse:
        return await self.service.session.ws_connect(
            url,
            headers=headers,
            protocols=tuple(self.websocket.scope.get("subprotocols") or ()),
            timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=timeouts.connect),
            max_msg_size=WS_MAX_MESSAGE_BYTES,
            autoclose=False,
            autoping=True,
            compress=0,
        )

    async def _pump(self, upstream_ws: aiohttp.ClientWebSocketResponse) -> None:
        up = asyncio.create_task(self._client_to_upstream(upstream_ws))
        down = asyncio.create_task(self._upstream_to_client(upstream_ws))
        done, pending = await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for task in done:
            exc = task.exception()
            if exc is not None:
                logger.warning("voice relay ended with %s", type(exc).__name__)

    async def _client_to_upstream(self, upstream_ws: aiohttp.ClientWebSocketResponse) -> None:
        while True:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                code = sendable(message.get("code"))
                reason = str(message.get("reason") or "")
                await upstream_ws.close(code=code, message=reason.encode("utf-8"))
                return
            if message.get("bytes") is not None:
                await upstream_ws.send_bytes(message["bytes"])
            elif message.get("text") is not None:
                await upstream_ws.send_str(message["text"])

    async def _upstream_to_client(self, upstream_ws: aiohttp.ClientWebSocketResponse) -> None:
        websocket = self.websocket
        while True:
            msg = await upstream_ws.receive()
            if msg.type == aiohttp.WSMsgType.BINARY:
                await websocket.send_bytes(msg.data)
            elif msg.type == aiohttp.WSMsgType.TEXT:
                await websocket.send_text(msg.data)
            elif msg.type == aiohttp.WSMsgType.CLOSE:
                code, reason = sendable(msg.data), str(msg.extra or "")
                with contextlib.suppress(Exception):
                    await upstream_ws.close(code=code)
                await self._close_client(code, reason)
                return
            else:  # CLOSING / CLOSED / ERROR: the upstream went away without a close frame
                await self._close_client(INTERNAL, "upstream connection lost")
                return

    async def _close_client(self, code: int, reason: str) -> None:
        if self.websocket.client_state == WebSocketState.CONNECTED:
            with contextlib.suppress(WebSocketDisconnect, RuntimeError):
                await self.websocket.close(code=code, reason=reason[:120])
