"""Native operations: Messages, count_tokens and Models, routed by model, tier and effort with failover.

The handlers call :class:`NativeService`; it owns the router, the upstream session and the per-request log line.

Attempts and errors. The decision's deployments are tried in the router's order (the group's, then its fallback
groups'), each once, or ``1 + router_settings.num_retries`` times (default 0 extra), before the first byte reaches
the client. Another attempt is made after a connection failure, a timeout, a retryable status (408, 409, 429, 5xx,
529) or a misconfigured deployment (401, 403, 404, never retried on the same deployment), unless the upstream said
``x-should-retry: false``; any other answer (a 400, say) ends the request. Worst case, one client request makes
``(deployments of the group and its fallback groups) * (1 + num_retries)`` upstream attempts
(:attr:`RoutingConfig.max_attempts`). When no attempt succeeded, the client gets the last upstream answer as it was:
status, ``error.type``, message, ``error.details``, ``retry-after``, ``x-should-retry`` and the upstream's
``request-id`` as ``upstream-request-id``; only when no upstream answered at all is it a 502 (504 after a timeout)
naming every attempt. ``x-gateway-route`` is on every answer, errors included.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
from starlette.responses import Response, StreamingResponse

from gateway.errors import (
    GatewayError,
    InvalidRequest,
    NotFound,
    UpstreamError,
    UpstreamStatus,
    UpstreamTimeout,
    error_type_for,
)
from gateway.keys.model import KEY_PREFIX as VIRTUAL_KEY_PREFIX
from gateway.ops.hooks import UpstreamHooks
from gateway.routing.config import Deployment, RoutingConfig, parse_routing
from gateway.routing.model_ids import tier_of
from gateway.routing.router import Decision, Router, catalogue
from gateway.settings import Settings
from gateway.streaming import relay
from gateway.upstream import hygiene, tokens, translated
from gateway.upstream.wire import (
    FAILOVER_STATUSES,
    ClientCredentials,
    FailedAttempt,
    open_response,
    relayed_headers,
    upstream_headers,
)

logger = logging.getLogger("gateway.native")
STATE = "native"
ROUTE_HEADER = "x-gateway-route"
MODELS_CREATED_AT = "2026-11-01T00:00:00Z"
SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}
RECENT_REQUESTS = 50  # native requests kept in memory for the status page (what the log line has, nothing more)
RETRY_BACKOFF = 0.5  # seconds before the first same-deployment retry (doubling), unless retry-after says otherwise
MAX_RETRY_WAIT = 8.0


class NativeService:
    def __init__(
        self,
        config: RoutingConfig,
        session: aiohttp.ClientSession,
        key_hashes: frozenset[str],
        redis: Any = None,
        hooks: UpstreamHooks | None = None,
        text_log: bool = True,
    ) -> None:
        self.config = config
        self.router = Router(config, redis=redis)
        self.session = session
        self.key_hashes = key_hashes  # the gateway's own keys are never forwarded upstream
        self.models = catalogue(config)
        self.hooks = hooks or UpstreamHooks()  # metrics, spans and the access line's facts (gateway.ops)
        self.text_log = text_log  # the former per-request line, kept with ops.log_format: text
        self.recent: deque[dict[str, Any]] = deque(maxlen=RECENT_REQUESTS)  # the status page's list (no bodies)

    # -- credentials ---------------------------------------------------------------------------------------------
    def client_credentials(self, headers: Mapping[str, str]) -> ClientCredentials:
        def own(token: str | None) -> str | None:
            if (
                not token
                or token.startswith(VIRTUAL_KEY_PREFIX)
                or hashlib.sha256(token.encode()).hexdigest() in self.key_hashes
            ):
                return None
            return token

        auth = headers.get("authorization", "")
        bearer = auth[7:].strip() if auth[:7].lower() == "bearer " else None
        return ClientCredentials(api_key=own(headers.get("x-api-key")), bearer=own(bearer))

    # -- messages and count_tokens -------------------------------------------------------------------------------
    async def messages(
        self,
        body: dict[str, Any],
        raw: bytes,
        headers: Mapping[str, str],
        *,
        query: str = "",
        count_tokens: bool = False,
    ) -> Response:
        """Try the decision's deployments in order until one answers; see the module doc for the error rules."""
        started = time.perf_counter()
        with self.hooks.routing(body.get("model")):
            decision = self.router.decide(body)
        request = _Request(
            body=body,
            raw=raw,
            headers=list(headers.items()),
            credentials=self.client_credentials(headers),
            path=("/v1/messages/count_tokens" if count_tokens else "/v1/messages") + (f"?{query}" if query else ""),
            stream=bool(body.get("stream")) and not count_tokens,
            count_tokens=count_tokens,
            started=started,
        )
        attempts: list[str] = []
        failures: list[FailedAttempt] = []
        await self.router.sync(decision)
        for deployment in self.router.ordered(decision):
            if count_tokens and deployment.kind != "anthropic":
                self._log(decision, deployment, attempts, 200, started, False)
                return self._local_count(body, decision, deployment)
            for retry in range(1 + self.config.num_retries):
                attempts.append(deployment.id)
                try:
                    return await self._attempt(request, decision, deployment, attempts)
                except FailedAttempt as failure:
                    failures.append(failure)
                    logger.warning("upstream attempt failed: %s", failure)
                    if failure.cools_down:
                        self.hooks.cooldown(deployment.id)
                        await self.router.failed(deployment, failure.retry_after)
                    last_try = retry == self.config.num_retries
                    if not failure.may_fail_over or failure.status in FAILOVER_STATUSES or last_try:
                        break
                    await asyncio.sleep(min(failure.retry_after or RETRY_BACKOFF * 2**retry, MAX_RETRY_WAIT))
            if failures and not failures[-1].may_fail_over:
                break
        error = self._exhausted(decision, attempts, failures)
        last = failures[-1].deployment if failures else None
        self._log(decision, last, attempts, error.status, started, request.stream)
        raise error

    async def _attempt(
        self, request: _Request, decision: Decision, deployment: Deployment, attempts: list[str]
    ) -> Response:
        """One attempt: the response, or FailedAttempt. The deployment counts as busy until the response is done."""
        since = self.router.started(deployment, len(request.raw) // 4)
        finish = self.router.finisher(deployment)
        try:
            with self.hooks.attempt(deployment.id):
                if deployment.kind == "litellm":
                    response = await self._translated(request, decision, deployment, finish)
                else:
                    response = await self._wire(request, decision, deployment, finish)
        except BaseException:
            finish()
            raise
        await self.router.succeeded(deployment, decision, since)
        self._log(decision, deployment, attempts, response.status_code, request.started, request.stream)
        return response

    async def _wire(
        self, request: _Request, decision: Decision, deployment: Deployment, finish: Callable[[], None]
    ) -> Response:
        prepared = hygiene.prepare(request.body, deployment, decision.effort)
        payload = request.raw if prepared is None else _dumps(prepared)
        betas = hygiene.betas_for(deployment, next((v for k, v in request.headers if k == "anthropic-beta"), None))
        upstream = upstream_headers(deployment, request.headers, betas, request.credentials)
        response = await open_response(self.session, deployment, request.path, payload, upstream)
        headers = {ROUTE_HEADER: decision.header(deployment), **relayed_headers(_lower(response.headers))}
        content_type = response.headers.get("content-type", "application/json")
        if request.stream and content_type.startswith("text/event-stream"):

            def close() -> None:
                response.close()
                finish()

            events = relay(
                response.content.iter_any(),
                close,
                keepalive=self.config.keepalive_seconds,
                idle_timeout=self.config.stream_idle_timeout_seconds,
                fix=None if deployment.kind == "anthropic" else hygiene.stamp_foreign_event,
            )
            return StreamingResponse(events, media_type="text/event-stream", headers={**headers, **SSE_HEADERS})
        try:
            content = await response.read()
        except aiohttp.ClientError as exc:
            raise UpstreamError(f"upstream {deployment.id} failed while sending its response") from exc
        finally:
            response.release()
            finish()
        if deployment.kind != "anthropic" and response.status == 200 and not request.count_tokens:
            content = _stamped(content)
        return Response(content, status_code=response.status, media_type=content_type.split(";")[0], headers=headers)

    async def _translated(
        self, request: _Request, decision: Decision, deployment: Deployment, finish: Callable[[], None]
    ) -> Response:
        route = {ROUTE_HEADER: decision.header(deployment)}
        result = await translated.create(deployment, hygiene.prepare_translated(request.body), request.stream)
        if isinstance(result, dict):
            finish()
            return Response(orjson.dumps(result), media_type="application/json", headers=route)
        closer = getattr(result, "aclose", None)

        async def close() -> None:
            try:
                if closer is not None:
                    await closer()
            finally:
                finish()

        events = relay(
            result,
            close,
            keepalive=self.config.keepalive_seconds,
            idle_timeout=self.config.stream_idle_timeout_seconds,
            fix=_translated_fix(request.body, deployment),
        )
        return StreamingResponse(events, media_type="text/event-stream", headers={**route, **SSE_HEADERS})

    def _exhausted(self, decision: Decision, attempts: list[str], failures: list[FailedAttempt]) -> GatewayError:
        """The error after the last attempt: the last upstream answer as it was (status, type, message, details,
        retry-after, x-should-retry, upstream-request-id); 502/504 naming the attempts when no upstream answered."""
        if not failures:
            return UpstreamError("no deployment to try", headers={ROUTE_HEADER: decision.header()})
        answered = [f for f in failures if f.status is not None]
        if answered:
            return upstream_status(answered[-1], {ROUTE_HEADER: decision.header(answered[-1].deployment)})
        last = failures[-1]
        route = {ROUTE_HEADER: decision.header(last.deployment)}
        named = "; ".join(str(f) for f in failures)
        kind = UpstreamTimeout if last.timeout else UpstreamError
        return kind(f"no upstream answered ({len(attempts)} attempted: {named})", headers=route)

    def _local_count(self, body: dict[str, Any], decision: Decision, deployment: Deployment) -> Response:
        name = tokens.tokenizer_for(deployment)
        counted = tokens.count_input_tokens(body, name)
        headers = {ROUTE_HEADER: decision.header(deployment), "x-gateway-token-count": f"local; tokenizer={name}"}
        return Response(orjson.dumps({"input_tokens": counted}), media_type="application/json", headers=headers)

    def _log(
        self,
        decision: Decision,
        deployment: Deployment | None,
        attempts: list[str],
        status: int,
        started: float,
        stream: bool,
    ) -> None:
        line = {
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
        self.recent.append({**line, "at": time.time()})  # the status page's list (no bodies)
        listened = self.hooks.routed(
            group=decision.group,
            deployment=deployment.id if deployment else "",
            model=decision.model,
            tier=decision.tier or "",
            effort=decision.effort or "",
            attempts=attempts,
        )
        if listened and not self.text_log:
            return  # the access line (gateway.ops.access) carries all of this
        logger.info("%s", orjson.dumps(line).decode())

    # -- models --------------------------------------------------------------------------------------------------
    def model_objects(self) -> list[dict[str, Any]]:
        return [_model_object(mid, name) for mid, name in self.models]

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
        """A listed model, or any other id that routes (its display name is the id); 404 for ids that do not."""
        for mid, name in self.models:
            if mid == model_id:
                return _model_object(mid, name)
        if self.config.group_for(model_id, tier_of(model_id), None) is None:
            raise NotFound(f"model: {model_id} is not served by this gateway")
        return _model_object(model_id, model_id)


def _model_object(model_id: str, name: str) -> dict[str, Any]:
    return {
        "type": "model",
        "id": model_id,
        "display_name": name,
        "created_at": MODELS_CREATED_AT,
        "lifecycle": "active",
    }


@dataclass(frozen=True)
class _Request:
    body: dict[str, Any]
    raw: bytes
    headers: list[tuple[str, str]]
    credentials: ClientCredentials
    path: str
    stream: bool
    count_tokens: bool
    started: float


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def upstream_status(failure: FailedAttempt, headers: Mapping[str, str]) -> UpstreamStatus:
    """An upstream's error answer as the client's error: its status, ``error.type``, message and details (any JSON
    error envelope; another body is quoted), with the upstream's retry headers."""
    status = failure.status or 502
    try:
        document = orjson.loads(failure.body) if failure.body else None
    except orjson.JSONDecodeError:
        document = None
    error = document.get("error") if isinstance(document, dict) else None
    relayed = {**headers, **relayed_headers(failure.headers)}
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        kind = error.get("type")
        details = error.get("details")
        return UpstreamStatus(
            status,
            kind if isinstance(kind, str) and kind else error_type_for(status),
            error["message"],
            headers=relayed,
            details=details if isinstance(details, dict) else None,
        )
    text = failure.body.decode("utf-8", errors="replace").strip()[:500]
    message = f"upstream {failure.deployment.id} answered {status}" + (f": {text}" if text else "")
    return UpstreamStatus(status, error_type_for(status), message, headers=relayed)


def _translated_fix(body: dict[str, Any], deployment: Deployment) -> Callable[[dict[str, Any]], bool]:
    """Translated stream fix-ups: litellm's ``signature: null`` (see translated.fix_event), and ``message_start``'s
    ``usage.input_tokens`` (0 from litellm) filled with the locally counted input."""

    def fix(data: dict[str, Any]) -> bool:
        changed = translated.fix_event(data)
        message = data.get("message") if data.get("type") == "message_start" else None
        usage = message.get("usage") if isinstance(message, dict) else None
        if isinstance(usage, dict) and not usage.get("input_tokens"):
            usage["input_tokens"] = tokens.count_input_tokens(body, tokens.tokenizer_for(deployment))
            changed = True
        return changed

    return fix


def _stamped(content: bytes) -> bytes:
    try:
        message = orjson.loads(content)
    except orjson.JSONDecodeError:
        return content
    return orjson.dumps(message) if hygiene.stamp_foreign_message(message) else content


@asynccontextmanager
async def native_service(settings: Settings, state: Mapping[str, Any]) -> AsyncIterator[Mapping[str, Any]]:
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
            ops = state.get("ops")
            hooks, text_log = (ops.hooks, ops.config.log_format == "text") if ops is not None else (None, True)
            yield {STATE: NativeService(config, session, keys, redis, hooks, text_log)}
    finally:
        if redis is not None:
            await redis.aclose()


def _dumps(body: Any) -> bytes:
    """``body`` as JSON; the standard library for what orjson refuses (integers beyond 64 bits are valid JSON)."""
    try:
        return orjson.dumps(body)
    except TypeError:
        return json.dumps(body, ensure_ascii=False).encode()
