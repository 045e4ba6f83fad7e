"""One MCP server over streamable HTTP (the ``mcp`` package's client): list its tools, call one.

Every operation opens its own connection with the server's bearer token (if the session's vaults hold one) in the
``Authorization`` header, and is bounded by ``timeout_s`` as a whole: a server that accepts and never answers costs
that long, never a hung turn. Failures become :class:`McpFailure` with a message a model or a user can read; it
names the server's URL and the HTTP status or the network error, never a header (the token is only ever in the
``Authorization`` header of the requests, so no message built here can contain it)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import httpx2

if TYPE_CHECKING:  # the ``mcp`` package is imported on the first connection: it costs a quarter of a start-up
    from mcp import Client

FailureKind = Literal["authentication", "connection"]


class McpFailure(Exception):
    def __init__(self, kind: FailureKind, message: str) -> None:
        super().__init__(message)
        self.kind, self.message = kind, message


@dataclass(frozen=True, slots=True)
class Listed:
    name: str
    description: str
    input_schema: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Called:
    content: list[dict[str, Any]]
    is_error: bool


@dataclass
class _Statuses:
    """The HTTP statuses the server answered with (the ``mcp`` client reports a 401 as a generic error)."""

    seen: list[int] = field(default_factory=list)

    async def hook(self, response: httpx2.Response) -> None:
        self.seen.append(response.status_code)


def _leaves(error: BaseException) -> list[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in _leaves(inner)]
    return [error]


def _failure(url: str, error: BaseException, statuses: _Statuses, timeout_s: float) -> McpFailure:
    denied = [s for s in statuses.seen if s in (401, 403)]
    if denied:
        return McpFailure(
            "authentication",
            f"the MCP server {url} refused the credentials (HTTP {denied[0]}): add a vault credential for this URL "
            "(static_bearer or mcp_oauth, auth.mcp_server_url) to a vault of the session, or renew its token",
        )
    if isinstance(error, TimeoutError):
        return McpFailure("connection", f"the MCP server {url} did not answer within {timeout_s:g}s")
    failed = [s for s in statuses.seen if s >= 400]
    if failed:
        return McpFailure("connection", f"the MCP server {url} answered HTTP {failed[0]}")
    leaf = _leaves(error)[0]
    detail = type(leaf).__name__ if isinstance(leaf, httpx2.HTTPError) else f"{type(leaf).__name__}: {leaf}"
    return McpFailure("connection", f"could not reach the MCP server {url} ({detail[:300]})")


@asynccontextmanager
async def connect(url: str, token: str | None, timeout_s: float) -> AsyncIterator[Client]:
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    statuses = _Statuses()
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    http = httpx2.AsyncClient(
        headers=headers, timeout=httpx2.Timeout(timeout_s), event_hooks={"response": [statuses.hook]}
    )
    try:
        async with asyncio.timeout(timeout_s), http, Client(streamable_http_client(url, http_client=http)) as client:
            yield client
    except McpFailure:
        raise
    except Exception as error:  # every failure of the connection is the server's, and told as such
        raise _failure(url, error, statuses, timeout_s) from None


async def list_tools(url: str, token: str | None, timeout_s: float) -> list[Listed]:
    async with connect(url, token, timeout_s) as client:
        result = await client.list_tools()
    return [
        Listed(tool.name, tool.description or "", dict(tool.input_schema or {"type": "object"}))
        for tool in result.tools
    ]


def _block(item: Any) -> dict[str, Any]:
    kind = getattr(item, "type", None)
    if kind == "text":
        return {"type": "text", "text": str(item.text)}
    if kind == "image":
        return {"type": "image", "source": {"type": "base64", "media_type": item.mime_type, "data": item.data}}
    dumped = item.model_dump(mode="json", by_alias=True) if hasattr(item, "model_dump") else str(item)
    return {"type": "text", "text": json.dumps(dumped, ensure_ascii=False)}


async def call_tool(url: str, token: str | None, timeout_s: float, name: str, arguments: Mapping[str, Any]) -> Called:
    async with connect(url, token, timeout_s) as client:
        result = await client.call_tool(name, dict(arguments))
    content = [_block(item) for item in getattr(result, "content", None) or []]
    structured = getattr(result, "structured_content", None)
    if not content and structured is not None:
        content = [{"type": "text", "text": json.dumps(structured, ensure_ascii=False)}]
    return Called(content, bool(getattr(result, "is_error", False)))
