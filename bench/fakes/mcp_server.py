"""A real MCP server for the tests: the ``mcp`` package's ``MCPServer`` (FastMCP) over streamable HTTP on 127.0.0.1,
behind a bearer-token check, in a subprocess.

    with McpFake(token="s3cret") as server:      # server.url == "http://127.0.0.1:<port>/mcp"
        ...

Every request without ``Authorization: Bearer <token>`` gets 401. Tools: ``add(a, b)`` (the sum as text),
``shout(text)`` (upper case) and ``fail(reason)`` (raises: the result is an MCP error). Run alone:
``python -m bench.fakes.mcp_server --token T --port N``."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


def _guard(app: App, token: str) -> App:
    expected = f"Bearer {token}".encode()

    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = dict(scope.get("headers") or [])
            if headers.get(b"authorization") != expected:
                body = b'{"error":"invalid_token"}'
                head = [(b"content-type", b"application/json"), (b"www-authenticate", b'Bearer error="invalid_token"')]
                await send({"type": "http.response.start", "status": 401, "headers": head})
                await send({"type": "http.response.body", "body": body})
                return
        await app(scope, receive, send)

    return guarded


def build(token: str) -> App:
    from mcp.server.mcpserver import MCPServer

    server = MCPServer("fake-tools")

    @server.tool()
    def add(a: int, b: int) -> str:
        """Add two integers."""
        return str(a + b)

    @server.tool()
    def shout(text: str) -> str:
        """Upper-case a text."""
        return text.upper()

    @server.tool()
    def fail(reason: str) -> str:
        """Always fails with the reason."""
        raise ValueError(f"the tool failed: {reason}")

    return _guard(server.streamable_http_app(), token)


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token", default=os.environ.get("MCP_FAKE_TOKEN", ""))
    args = parser.parse_args(argv)
    config = uvicorn.Config(build(args.token), host="127.0.0.1", port=args.port, log_level="warning")
    uvicorn.Server(config).run()


class McpFake:
    """The server in a subprocess on a free port (the token passed in the environment, not on the command line)."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    def __enter__(self) -> McpFake:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        root = Path(__file__).resolve().parents[2]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.fakes.mcp_server", "--port", str(port)],
            cwd=root,
            env={**os.environ, "MCP_FAKE_TOKEN": self.token},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.url = f"http://127.0.0.1:{port}/mcp"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(self.url, timeout=1)
                return self
            except httpx.TransportError:
                time.sleep(0.1)
        self.__exit__(None, None, None)
        raise RuntimeError("the MCP fake did not start")

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


if __name__ == "__main__":
    main()
