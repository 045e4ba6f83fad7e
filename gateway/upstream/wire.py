"""One attempt against an Anthropic-wire deployment (Anthropic, DeepSeek and MiMo ``/anthropic`` endpoints).

aiohttp is the transport (the spike measured +0.7 ms p50 per hop for aiohttp vs +1.2 ms for httpx). An attempt that
did not produce a 2xx/3xx answer raises :class:`FailedAttempt`: either the upstream's own error answer (status, body,
headers) or a connection failure / timeout before the first byte (``status`` None). The caller decides whether
another deployment may be tried (:attr:`FailedAttempt.may_fail_over`).

Request headers (:func:`upstream_headers`): every client header is forwarded except hop-by-hop headers (and those
the client's ``Connection`` names), ``host``, ``content-length``, ``expect``, ``cookie``, ``accept-encoding``
(aiohttp negotiates and decodes the upstream's encoding itself), the credentials (``x-api-key``,
``authorization``: replaced by the deployment's key, or the client's own credential to Anthropic only) and
``anthropic-beta`` (filtered per backend by :func:`gateway.upstream.hygiene.betas_for`). ``content-type`` is always
``application/json`` and ``anthropic-version`` defaults to ``2023-06-01``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import aiohttp

from gateway.routing.config import Deployment

RETRYABLE_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})
FAILOVER_STATUSES = frozenset({401, 403, 404})  # a misconfigured deployment: try the next one, report if last
DEFAULT_VERSION = "2023-06-01"
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
# set by the gateway, never copied from the client
GATEWAY_OWNED = frozenset(
    {
        "host",
        "content-length",
        "content-type",
        "expect",
        "cookie",
        "accept-encoding",
        "x-api-key",
        "authorization",
        "anthropic-beta",
        "anthropic-version",
    }
)
# upstream response headers that reach the client (``request-id`` as ``upstream-request-id``)
RELAYED_PREFIXES = ("anthropic-ratelimit-",)
RELAYED = frozenset({"retry-after", "x-should-retry"})


@dataclass
class FailedAttempt(Exception):
    """One attempt that ended without a usable answer: the upstream's error answer (``status`` set) or a
    transport failure before the first byte (``status`` None; ``timeout`` tells a timeout from a connection error)."""

    deployment: Deployment
    reason: str
    status: int | None = None
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    retry_after: float | None = None
    timeout: bool = False

    def __str__(self) -> str:
        return f"{self.deployment.id}: {self.reason}"

    @property
    def should_retry(self) -> bool | None:
        """The upstream's ``x-should-retry`` verdict (None when it did not say)."""
        value = self.headers.get("x-should-retry", "").strip().lower()
        return True if value == "true" else False if value == "false" else None

    @property
    def may_fail_over(self) -> bool:
        """True when another attempt may be made: transport failures, retryable statuses and misconfigured-deployment
        statuses, unless the upstream said ``x-should-retry: false``."""
        if self.should_retry is False:
            return False
        return self.status is None or self.status in RETRYABLE_STATUSES or self.status in FAILOVER_STATUSES

    @property
    def cools_down(self) -> bool:
        """Whether this failure counts against the deployment's health (a client error does not)."""
        return self.status is None or self.status in RETRYABLE_STATUSES or self.status in FAILOVER_STATUSES


@dataclass(frozen=True)
class ClientCredentials:
    """The client's own Anthropic credentials (never the gateway key); forwarded to Anthropic only."""

    api_key: str | None = field(default=None, repr=False)
    bearer: str | None = field(default=None, repr=False)


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def relayed_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The upstream response headers the client gets (lower-case names in, ``request-id`` renamed)."""
    out = {k: v for k, v in headers.items() if k in RELAYED or k.startswith(RELAYED_PREFIXES)}
    request_id = headers.get("request-id") or headers.get("x-request-id")
    if request_id:
        out["upstream-request-id"] = request_id
    return out


def _forwardable(client_headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    pairs = [(name.lower(), value) for name, value in client_headers]
    named = {t.strip().lower() for name, value in pairs if name == "connection" for t in value.split(",")}
    return {
        name: value
        for name, value in pairs
        if name not in HOP_BY_HOP and name not in GATEWAY_OWNED and name not in named and not name.startswith(":")
    }


def upstream_headers(
    deployment: Deployment,
    client_headers: Iterable[tuple[str, str]],
    betas: str | None,
    credentials: ClientCredentials,
) -> dict[str, str]:
    """The request headers for ``deployment`` (see the module doc for what is kept, replaced and dropped)."""
    headers = _forwardable(client_headers)
    version = next((v for k, v in client_headers if k.lower() == "anthropic-version"), None)
    headers["content-type"] = "application/json"
    headers["anthropic-version"] = version or DEFAULT_VERSION
    headers.setdefault("user-agent", "litellm-gateway/0.1")
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
    """POST ``body`` to ``deployment``; the response is open (status and headers read, body not yet).

    ``path`` may carry the client's query string (``/v1/messages?beta=true``)."""
    url = f"{deployment.api_base}{path}"
    timeout = aiohttp.ClientTimeout(total=None, connect=min(10.0, deployment.timeout), sock_read=deployment.timeout)
    try:
        response = await session.post(url, data=body, headers=headers, timeout=timeout, allow_redirects=False)
    except TimeoutError as exc:
        raise FailedAttempt(deployment, "timed out before the response started", timeout=True) from exc
    except aiohttp.ClientError as exc:
        raise FailedAttempt(deployment, f"connection failed ({type(exc).__name__})") from exc
    if response.status >= 400:
        payload = await _read_quietly(response)
        answered = {k.lower(): v for k, v in response.headers.items()}
        raise FailedAttempt(
            deployment,
            f"upstream answered {response.status}",
            status=response.status,
            body=payload,
            headers=answered,
            retry_after=retry_after_seconds(answered),
        )
    return response


async def _read_quietly(response: aiohttp.ClientResponse) -> bytes:
    try:
        return await response.read()
    except (aiohttp.ClientError, TimeoutError):
        return b""
    finally:
        response.release()
