"""Native operations: Messages, count_tokens and Models, routed by tier and effort with failover.

The handlers call :class:`NativeService`; it owns the router, the upstream session and the per-request log line.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import orjson
from starlette.responses import Response, StreamingResponse

from gateway.errors import GatewayError, InvalidRequest, NotFound, RateLimited, UpstreamError
from gateway.routing.config import Deployment, RoutingConfig, parse_routing
from gateway.routing.router import Decision, Router
from gateway.settings import Settings
from gateway.streaming import relay
from gateway.upstream import hygiene, translated
from gateway.upstream.wire import (
    FAILOVER_STATUSES,
    ClientCredentials,
    RetryableFailure,
    open_response,
    upstream_headers,
)

logger = logging.getLogger("gateway.native")
STATE = "native"
ROUTE_HEADER = "x-gateway-route"
MODELS_CREATED_AT = "2026-11-01T00:00:00Z"


class TranslatedStatus(GatewayError):
    """A client error from a translated backend, returned with its own status."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str]) -> None:
        super().__init__(message, headers=headers)
        self.status = status
        self.error_type = "invalid_request_error" if status < 500 else "api_error"


class NativeService:
    def __init__(
        self, config: RoutingConfig, session: aiohttp.ClientSession, key_hashes: frozenset[str], redis: Any = None
    ) -> None:
        self.config = config
        self.router = Router(config, redis=redis)
        self.session = session
        self.key_hashes = key_hashes  # the gateway's own keys are never forwarded upstream

    # -- credentials ---------------------------------------------------------------------------------------------
    def client_credentials(self, headers: Mapping[str, str]) -> ClientCredentials:
        def own(token: str | None) -> str | None:
            if not token or hashlib.sha256(token.encode()).hexdigest() in self.key_hashes:
                return None
            return token

        auth = headers.get("authorization", "")
        bearer = auth[7:].strip() if auth[:7].lower() == "bearer " else None
        return ClientCredentials(api_key=own(headers.get("x-api-key")), bearer=own(bearer))

    # -- messages and count_tokens -------------------------------------------------------------------------------
    async def messages(
        self, body: dict[str, Any], raw: bytes, headers: Mapping[str, str], *, count_tokens: bool = False
    ) -> Response:
        started = time.perf_counter()
        decision = self.router.decide(body)
        stream = bool(body.get("stream")) and not count_tokens
        path = "/v1/messages/count_tokens" if count_tokens else "/v1/messages"
        credentials = self.client_credentials(headers)
        attempts: list[str] = []
        last: RetryableFailure | None = None
        last_429: RetryableFailure | None = None
        final: tuple[Deployment, aiohttp.ClientResponse] | None = None
        await self.router.sync(decision)
        order = self.router.ordered(decision)
        for deployment in order:
            if count_tokens and deployment.kind != "anthropic":
                self._log(decision, deployment, attempts, 200, started, stream)
                return self._local_count(body, decision, deployment)
            if deployment.kind == "litellm":
                attempts.append(deployment.id)
                try:
                    return await self._translated(body, decision, deployment, attempts, started, stream)
                except RetryableFailure as failure:
                    await self.router.failed(deployment, failure.retry_after)
                    last = failure
                    logger.warning("upstream attempt failed: %s", failure)
                    continue
            prepared = hygiene.prepare(body, deployment, decision.effort)
            payload = raw if prepared is None else orjson.dumps(prepared)
            betas = hygiene.betas_for(deployment, headers.get("anthropic-beta"))
            request_headers = upstream_headers(deployment, headers.get("anthropic-version"), betas, credentials)
            attempts.append(deployment.id)
            try:
                response = await open_response(self.session, deployment, path, payload, request_headers)
            except RetryableFailure as failure:
                await self.router.failed(deployment, failure.retry_after)
                last = failure
                if failure.status == 429:
                    last_429 = failure
                logger.warning("upstream attempt failed: %s", failure)
                continue
            if response.status in FAILOVER_STATUSES and deployment is not order[-1]:
                await self.router.failed(deployment)
                body_bytes = await response.read()
                response.release()
                last = RetryableFailure(deployment, f"upstream answered {response.status}", response.status, body_bytes)
                continue
            if response.status < 400:
                await self.router.succeeded(deployment)
            final = (deployment, response)
            break
        if final is None:
            self._log(decision, None, attempts, 429 if last_429 else 502, started, stream)
            raise self._exhausted(attempts, last, last_429, decision)
        deployment, response = final
        route = {ROUTE_HEADER: decision.header(deployment)}
        self._log(decision, deployment, attempts, response.status, started, stream)
        content_type = response.headers.get("content-type", "application/json")
        if stream and response.status == 200 and content_type.startswith("text/event-stream"):
            events = relay(
                response.content.iter_any(),
                response.close,
                keepalive=self.config.keepalive_seconds,
                idle_timeout=self.config.stream_idle_timeout_seconds,
                fix=None if deployment.kind == "anthropic" else hygiene.stamp_foreign_event,
            )
            return StreamingResponse(
                events,
                media_type="text/event-stream",
                headers={**route, "cache-control": "no-cache", "x-accel-buffering": "no"},
            )
        try:
            content = await response.read()
        except aiohttp.ClientError as exc:
            raise UpstreamError(f"upstream {deployment.id} failed while sending its response") from exc
        finally:
            response.release()
        if deployment.kind != "anthropic" and response.status == 200 and not count_tokens:
            content = _stamped(content)
        return Response(content, status_code=response.status, media_type=content_type.split(";")[0], headers=route)

    async def _translated(
        self,
        body: dict[str, Any],
        decision: Decision,
        deployment: Deployment,
        attempts: list[str],
        started: float,
        stream: bool,
    ) -> Response:
        route = {ROUTE_HEADER: decision.header(deployment)}
        try:
            result = await translated.create(deployment, hygiene.prepare_translated(body), stream)
        except translated.TranslatedError as error:
            self._log(decision, deployment, attempts, error.status, started, stream)
            raise TranslatedStatus(error.status, error.message, route) from error
        await self.router.succeeded(deployment)
        self._log(decision, deployment, attempts, 200, started, stream)
        if isinstance(result, dict):
            return Response(orjson.dumps(result), media_type="application/json", headers=route)
        closer = getattr(result, "aclose", None)
        events = relay(
            result,
            closer if closer is not None else (lambda: None),
            keepalive=self.config.keepalive_seconds,
            idle_timeout=self.config.stream_idle_timeout_seconds,
            fix=translated.fix_event,
        )
        headers = {**route, "cache-control": "no-cache", "x-accel-buffering": "no"}
        return StreamingResponse(events, media_type="text/event-stream", headers=headers)

    def _exhausted(
        self, attempts: list[str], last: RetryableFailure | None, last_429: RetryableFailure | None, decision: Decision
    ) -> GatewayError:
        route = {ROUTE_HEADER: decision.header()}
        if last_429 is not None:
            retry = last_429.headers.get("retry-after")
            headers = {**route, **({"retry-after": retry} if retry else {})}
            return RateLimited(f"all upstreams are rate limited ({len(attempts)} attempted)", headers=headers)
        detail = f"; last: {last}" if last is not None else ""
        return UpstreamError(f"all upstreams failed ({len(attempts)} attempted){detail}", headers=route)

    def _local_count(self, body: dict[str, Any], decision: Decision, deployment: Deployment) -> Response:
        tokens = estimate_tokens(body)
        headers = {ROUTE_HEADER: decision.header(deployment), "x-gateway-token-count": "estimated"}
        return Response(orjson.dumps({"input_tokens": tokens}), media_type="application/json", headers=headers)

    def _log(
        self,
        decision: Decision,
        deployment: Deployment | None,
        attempts: list[str],
        status: int,
        started: float,
        stream: bool,
    ) -> None:
        logger.info(
            "%s",
            orjson.dumps(
                {
                    "event": "native_request",
                    "model": decision.model,
                    "tier": decision.tier,
                    "effort": decision.effort,
                    "group": decision.group,
                    "deployment": deployment.id if deployment else None,
                    "attempts": attempts,
                    "status": status,
                    "stream": stream,
                    "ms": round((time.perf_counter() - started) * 1000, 2),
                }
            ).decode(),
        )

    # -- models --------------------------------------------------------------------------------------------------
    def model_objects(self) -> list[dict[str, Any]]:
        return [
            {"type": "model", "id": mid, "display_name": name, "created_at": MODELS_CREATED_AT, "lifecycle": "active"}
            for mid, name in self.config.models
        ]

    def list_models(self, limit: int = 20, after_id: str | None = None, before_id: str | None = None) -> dict[str, Any]:
        models = self.model_objects()
        ids = [m["id"] for m in models]
        for name, anchor in (("after_id", after_id), ("before_id", before_id)):
            if anchor is not None and anchor not in ids:  # a cursor that names no model would page from nowhere
                raise InvalidRequest(f"{name}: no model with this id on this gateway")
        if after_id is not None:
            start = ids.index(after_id) + 1 if after_id in ids else len(ids)
            page = models[start : start + limit]
            has_more = start + limit < len(models)
        elif before_id is not None:
            end = ids.index(before_id) if before_id in ids else 0
            page = models[max(0, end - limit) : end]
            has_more = end - limit > 0
        else:
            page, has_more = models[:limit], limit < len(models)
        return {
            "data": page,
            "has_more": has_more,
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None,
        }

    def model(self, model_id: str) -> dict[str, Any]:
        for model in self.model_objects():
            if model["id"] == model_id:
                return model
        raise NotFound(f"model: {model_id} is not served by this gateway")


def _stamped(content: bytes) -> bytes:
    try:
        message = orjson.loads(content)
    except orjson.JSONDecodeError:
        return content
    return orjson.dumps(message) if hygiene.stamp_foreign_message(message) else content


def estimate_tokens(body: dict[str, Any]) -> int:
    """Local token estimate for backends without count_tokens: every character of the prompt the model reads
    (system, message text, thinking, tool inputs/results, tool definitions) / 3.5, plus 4 tokens per message and
    8 per tool of framing. A heuristic: it is not Anthropic's tokenizer."""
    chars = 0
    system = body.get("system")
    chars += len(system) if isinstance(system, str) else len(orjson.dumps(system)) if system else 0
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        chars += len(content) if isinstance(content, str) else len(orjson.dumps(content or []))
    tools = body.get("tools") or []
    chars += len(orjson.dumps(tools)) if tools else 0
    framing = 4 * len(body.get("messages") or []) + 8 * len(tools)
    return max(1, math.ceil(chars / 3.5) + framing)


@asynccontextmanager
async def native_service(settings: Settings, _state: Mapping[str, Any]) -> AsyncIterator[Mapping[str, Any]]:
    """Lifespan factory: parse the routing config, open the upstream session."""
    config = parse_routing(settings.raw)
    if config.needs_litellm:
        translated.load(d for group in config.groups.values() for d in group if d.kind == "litellm")
    connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, enable_cleanup_closed=True)
    redis = None
    if config.redis_url:
        from redis import asyncio as redis_asyncio

        redis = redis_asyncio.from_url(config.redis_url, socket_timeout=0.5, socket_connect_timeout=0.5)
    try:
        async with aiohttp.ClientSession(connector=connector) as session:
            keys = frozenset(key.key_sha256 for key in settings.api_keys)
            yield {STATE: NativeService(config, session, keys, redis)}
    finally:
        if redis is not None:
            await redis.aclose()
