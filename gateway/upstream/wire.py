"""One attempt against an Anthropic-wire deployment (Anthropic, DeepSeek and MiMo ``/anthropic`` endpoints).

aiohttp is the transport (the spike measured +0.7 ms p50 per hop for aiohttp vs +1.2 ms for httpx). Failures that
allow trying the next deployment before the first byte reach the client are raised as :class:`RetryableFailure`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import aiohttp

from gateway.routing.config import Deployment

RETRYABLE_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})
FAILOVER_STATUSES = frozenset({401, 403, 404})  # a misconfigured deployment: try the next one, report if last
DEFAULT_VERSION = "2023-06-01"


@dataclass
class RetryableFailure(Exception):
    deployment: Deployment
    reason: str
    status: int | None = None
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    retry_after: float | None = None

    def __str__(self) -> str:
        return f"{self.deployment.id}: {self.reason}"


@dataclass(frozen=True)
class ClientCredentials:
    """The client's own Anthropic credentials (never the gateway key); forwarded to Anthropic only."""

    api_key: str | None = field(default=None, repr=False)
    bearer: str | None = field(default=None, repr=False)


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after") or headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def upstream_headers(
    deployment: Deployment, version: str | None, betas: str | None, credentials: ClientCredentials
) -> dict[str, str]:
    headers = {
        "content-type": "application/json",
        "anthropic-version": version or DEFAULT_VERSION,
        "user-agent": "litellm-gateway/0.1",
    }
    if betas:
        headers["anthropic-beta"] = betas
    if deployment.api_key:
        if deployment.kind in ("mimo", "mimo_auto"):
            headers["authorization"] = f"Bearer {deployment.api_key}"
        else:
            headers["x-api-key"] = deployment.api_key
    elif deployment.kind == "anthropic":  # the client's own credential, and only to Anthropic
        if credentials.api_key:
            headers["x-api-key"] = credentials.api_key
        if credentials.bearer:
            headers["authorization"] = f"Bearer {credentials.bearer}"
    return headers


async def open_response(
    session: aiohttp.ClientSession,
    deployment: Deployment,
    path: str,
    body: bytes,
    headers: dict[str, str],
) -> aiohttp.ClientResponse:
    """POST ``body`` to ``deployment``; the response is open (status and headers read, body not yet)."""
    url = f"{deployment.api_base}{path}"
    timeout = aiohttp.ClientTimeout(total=None, connect=min(10.0, deployment.timeout), sock_read=deployment.timeout)
    try:
        response = await session.post(url, data=body, headers=headers, timeout=timeout, allow_redirects=False)
    except TimeoutError as exc:
        raise RetryableFailure(deployment, "timed out before the response started") from exc
    except aiohttp.ClientError as exc:
        raise RetryableFailure(deployment, f"connection failed ({type(exc).__name__})") from exc
    if response.status in RETRYABLE_STATUSES:
        payload = await _read_quietly(response)
        raise RetryableFailure(
            deployment,
            f"upstream answered {response.status}",
            status=response.status,
            body=payload,
            headers={k.lower(): v for k, v in response.headers.items()},
            retry_after=_retry_after(response.headers),
        )
    return response


async def _read_quietly(response: aiohttp.ClientResponse) -> bytes:
    try:
        return await response.read()
    except (aiohttp.ClientError, TimeoutError):
        return b""
    finally:
        response.release()
