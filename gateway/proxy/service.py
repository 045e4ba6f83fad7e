"""The pass-through service: lifespan factory, and the one dispatch every proxy/stub handler calls.

:func:`proxy_service` (registered in :mod:`gateway.services`) validates the ``passthrough:`` section, opens one
aiohttp session (no cookie jar, no decompression, no environment proxies) and the local store and sink, and puts
the :class:`ProxyService` and the request accounting in the lifespan state.

:func:`dispatch` decides per operation: ``passthrough`` categories are forwarded by the reverse proxy; ``local``
ones are answered by :class:`~gateway.proxy.local.LocalAnswers`. Local answers reveal configuration and accept
writes, so when gateway API keys are configured they require one (``x-api-key`` or ``Authorization: Bearer``); in
the gateway's keyless local mode they are open like everything else.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
from connexion import request as current_request
from starlette.responses import Response

from gateway.auth import KeyIndex
from gateway.errors import AuthenticationFailed, InvalidRequest
from gateway.keys.model import looks_like_virtual_key
from gateway.proxy.accounting import ACCOUNTING_STATE, RequestAccounting
from gateway.proxy.config import ProxyConfig, parse_proxy_config
from gateway.proxy.event_sink import EventSink
from gateway.proxy.forward import SKIP_AUTO_HEADERS, ReverseProxy
from gateway.proxy.local import LOCAL_TENANT, LocalAnswers, LocalRequest, Tenant
from gateway.proxy.operations import OPERATIONS
from gateway.proxy.store import LocalStore
from gateway.request_id import request_id_for
from gateway.settings import Settings

logger = logging.getLogger(__name__)

PROXY_STATE = "proxy"
WS_MAX_MESSAGE_BYTES = 16 * 1024 * 1024

LocalAnswer = Callable[[LocalAnswers, LocalRequest], Any]


@dataclass
class ProxyService:
    config: ProxyConfig
    proxy: ReverseProxy
    local: LocalAnswers
    sink: EventSink
    keys: KeyIndex
    session: aiohttp.ClientSession

    def is_local(self, category: str) -> bool:
        return self.config.category(category).mode == "local"

    def is_gateway_key(self, token: str) -> bool:
        return is_gateway_key(self.keys, token)

    def authorize_local(self, headers: Mapping[str, str]) -> Tenant:
        """When gateway keys are configured, a local answer needs one of them; the answer is that key's."""
        if not self.keys.entries:
            return LOCAL_TENANT
        token = headers.get("x-api-key")
        if token is None:
            scheme, _, value = headers.get("authorization", "").partition(" ")
            token = value.strip() if scheme.lower() == "bearer" else None
        if not token:
            raise AuthenticationFailed("missing API key: local answers need a gateway key in the x-api-key header")
        identity = self.keys.identify(token)
        if identity is None:
            raise AuthenticationFailed("invalid API key for this gateway")
        return Tenant(key=identity["sub"], workspace=identity["workspace"], keyed=True)


def is_gateway_key(keys: KeyIndex, token: str) -> bool:
    """True when ``token`` is one of this gateway's own API keys, or has a virtual key's shape (those are never
    forwarded upstream)."""
    return looks_like_virtual_key(token) or (bool(keys.entries) and keys.identify(token) is not None)


def service_of(scope: Mapping[str, Any]) -> ProxyService:
    state = scope.get("state") or {}
    service = state.get(PROXY_STATE)
    if not isinstance(service, ProxyService):
        raise RuntimeError("the pass-through service is not running (lifespan not started)")
    return service


async def dispatch(operation_id: str, answer: LocalAnswer) -> Any:
    """Forward the current request, or answer it locally with ``answer(local_answers, local_request)``."""
    request = current_request
    service = service_of(request.scope)
    operation = OPERATIONS[operation_id]
    if not service.is_local(operation.category):
        return await service.proxy.forward(operation, request)
    tenant = await _tenant(service, request)
    return await _answer(service, request, answer, tenant)


async def local_stub(answer: LocalAnswer, *, authorize: bool = True) -> Any:
    """Stub operations are always answered here."""
    request = current_request
    service = service_of(request.scope)
    tenant = await _tenant(service, request) if authorize else LOCAL_TENANT
    return await _answer(service, request, answer, tenant)


async def _tenant(service: ProxyService, request: Any) -> Tenant:
    """The caller of a local answer: a configuration key (``authorize_local``) or a virtual key (gateway.keys)."""
    from gateway.keys.service import KEYS_STATE
    from gateway.keys.usage import presented_virtual_key

    token = presented_virtual_key(request.headers) if service.keys.entries else None
    keys = (request.scope.get("state") or {}).get(KEYS_STATE)
    if token is None or keys is None:
        return service.authorize_local(request.headers)
    identity = await keys.identify(token)
    if identity is None:
        raise AuthenticationFailed("invalid API key for this gateway")
    return Tenant(key=identity["sub"], workspace=identity["workspace"], keyed=True)


async def _answer(service: ProxyService, request: Any, answer: LocalAnswer, tenant: Tenant) -> Any:
    async def read_json() -> Any:
        body = await request.json()  # already validated against the spec by connexion
        if body is None:
            raise InvalidRequest("request body is not valid JSON")
        return body

    local_request = LocalRequest(request_id=request_id_for(request.scope), path=request.scope["path"], json=read_json)
    result = answer(service.local.for_tenant(tenant), local_request)
    if inspect.isawaitable(result):
        result = await result
    if result is None:  # a JSON null body (connexion would turn None into an empty 204)
        return Response(content=b"null", media_type="application/json")
    return result


@asynccontextmanager
async def proxy_service(settings: Settings, _state: Mapping[str, Any]) -> AsyncIterator[Mapping[str, Any]]:
    config = parse_proxy_config(settings)
    accounting = RequestAccounting(prefix=settings.handlers_package + ".")
    store = LocalStore(config.local.data_dir)
    sink = EventSink(config.sink)
    keys = KeyIndex.from_settings(settings)
    session = aiohttp.ClientSession(
        # no pool limit (a waiting request would hang with no timeout); idle keep-alive connections are reused
        connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=300),
        cookie_jar=aiohttp.DummyCookieJar(),  # never carry one client's cookies to another
        auto_decompress=False,  # bodies are relayed byte for byte
        trust_env=False,  # only the configured hosts, never an environment proxy
        skip_auto_headers=SKIP_AUTO_HEADERS,  # the upstream sees the client's headers, not aiohttp's defaults
        timeout=aiohttp.ClientTimeout(total=None),
    )
    service = ProxyService(
        config=config,
        proxy=ReverseProxy(session, config, lambda token: is_gateway_key(keys, token)),
        local=LocalAnswers(config, store, accounting, sink),
        sink=sink,
        keys=keys,
        session=session,
    )
    modes = ", ".join(f"{c.name}={c.mode}" for c in config.categories.values())
    used = sorted(
        {str(config.upstream_for(o.category, o.role)) for o in OPERATIONS.values() if not service.is_local(o.category)}
    )
    logger.info("pass-through: %s; upstreams: %s", modes, ", ".join(used) or "none (nothing is forwarded)")
    try:
        yield {PROXY_STATE: service, ACCOUNTING_STATE: accounting}
    finally:
        await session.close()
