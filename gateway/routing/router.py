"""Route decision (model → group → ordered deployments), load sharing, prompt-cache affinity and cooldowns.

Model selection order (first match wins):

1. ``model`` equals a ``model_list`` ``model_name``: that group (LiteLLM's core rule);
2. ``model`` is a ``router_settings.model_group_alias`` key: the aliased group;
3. the first ``routing.rules`` entry that matches the tier, effort and model glob;
4. ``routing.default``; with none, 404.

The group's deployments are ordered by ``router_settings.routing_strategy`` (``simple-shuffle``: weighted random by
``weight``, else ``rpm``, else ``tpm``; ``least-busy``: fewest requests in flight; ``latency-based-routing``: lowest
moving average of time to the response headers). With prompt-cache affinity, a conversation that a deployment of the
group served before goes to that deployment first while it is healthy. Deployments cooling down or over their
``rpm``/``tpm`` in the current minute go last. The fallback groups' deployments follow, in the same manner.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from gateway.errors import NotFound
from gateway.routing.config import DEFAULT_MODELS, Deployment, RoutingConfig
from gateway.routing.model_ids import effort_of, tier_of

BILLING_PREFIX = "x-anthropic-billing-header:"
AFFINITY_CAPACITY = 50_000  # conversations remembered (least recently used forgotten first)
LATENCY_ALPHA = 0.3  # weight of the newest sample in the latency moving average
WINDOW_SECONDS = 60.0  # rpm / tpm window


@dataclass(frozen=True)
class Decision:
    model: str
    tier: str | None
    effort: str | None
    group: str
    candidates: tuple[Deployment, ...]  # the group's deployments, then each fallback group's, in order
    affinity_key: str | None = None

    def header(self, deployment: Deployment | None = None) -> str:
        """The ``x-gateway-route`` header value (no secrets)."""
        parts = [f"tier={self.tier or '-'}", f"effort={self.effort or '-'}", f"group={self.group}"]
        if deployment is not None:
            parts.append(f"deployment={deployment.id}")
        return "; ".join(parts)


def _without_billing(system: Any) -> Any:
    if isinstance(system, str):
        return system.split("\n", 1)[1] if system.startswith(BILLING_PREFIX) and "\n" in system else system
    if isinstance(system, list):
        return [b for b in system if not (isinstance(b, dict) and str(b.get("text", "")).startswith(BILLING_PREFIX))]
    return system


def affinity_key(group: str, body: dict[str, Any]) -> str:
    """The conversation's cacheable prefix, hashed: system prompt (without Claude Code's per-request billing line),
    tools and the first message. Every turn of one conversation shares it."""
    messages = body.get("messages") or []
    prefix = [group, _without_billing(body.get("system")), body.get("tools"), messages[0] if messages else None]
    return hashlib.blake2b(orjson.dumps(prefix, option=orjson.OPT_SORT_KEYS), digest_size=16).hexdigest()


class Router:
    """Decisions, load sharing and health. Cooldowns live in memory; with ``router_settings.redis_url`` they are also
    written to Redis (``SET <prefix><deployment> PX``) and read back before each decision, so every gateway process
    sharing that Redis skips a deployment another one saw failing. Load counters (in flight, rpm/tpm windows, latency)
    and the affinity table are per process."""

    def __init__(
        self,
        config: RoutingConfig,
        clock: Any = time.monotonic,
        redis: Any = None,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.redis = redis
        self.rng = rng or random.Random()
        self.redis_prefix = "litellm-gateway:cooldown:"
        self._fails: dict[str, int] = {}
        self._cool_until: dict[str, float] = {}
        self._in_flight: dict[str, int] = {}
        self._latency: dict[str, float] = {}
        self._window: dict[str, tuple[float, int, int]] = {}  # deployment -> (window start, requests, tokens)
        self._affinity: OrderedDict[str, tuple[str, float]] = OrderedDict()  # key -> (deployment id, expires)

    # -- decision ------------------------------------------------------------------------------------------------
    def group_for(self, model: str, tier: str | None, effort: str | None) -> str:
        group = self.config.group_for(model, tier, effort)
        if group is None:
            raise NotFound(f"model: {model} is not served by this gateway (no routing rule matches and no default)")
        return group

    def decide(self, body: dict[str, Any]) -> Decision:
        model = str(body.get("model", ""))
        tier, effort = tier_of(model), effort_of(body)
        group = self.group_for(model, tier, effort)
        chain = [group, *(g for g in self.config.fallbacks.get(group, ()) if g != group)]
        candidates = tuple(dep for name in chain for dep in self.config.groups[name])
        key = None
        if self.config.prompt_cache_affinity and len(self.config.groups[group]) > 1:
            key = affinity_key(group, body)
        return Decision(model, tier, effort, group, candidates, key)

    def ordered(self, decision: Decision) -> list[Deployment]:
        """Every candidate, healthy ones first: each group in strategy order (the sticky deployment of the
        conversation first), then the deployments cooling down or over their rpm/tpm."""
        now = self.clock()
        ranked: list[Deployment] = []
        groups: dict[str, list[Deployment]] = {}
        for dep in decision.candidates:
            groups.setdefault(dep.group, []).append(dep)
        sticky = self._sticky(decision.affinity_key, now)
        for deployments in groups.values():
            ordered = self._by_strategy(deployments)
            if sticky is not None:
                ordered.sort(key=lambda d: d.id != sticky)  # stable: the rest keep the strategy's order
            ranked += ordered
        ready = [d for d in ranked if self._cool_until.get(d.id, 0.0) <= now and not self._over_limit(d, now)]
        return ready + [d for d in ranked if d not in ready]

    def _by_strategy(self, deployments: list[Deployment]) -> list[Deployment]:
        if len(deployments) == 1:
            return list(deployments)
        strategy = self.config.strategy
        if strategy == "least-busy":
            return sorted(deployments, key=lambda d: self._in_flight.get(d.id, 0))
        if strategy == "latency-based-routing":
            return sorted(deployments, key=lambda d: self._latency.get(d.id, 0.0))
        # weighted random order (Efraimidis-Spirakis): P(first) is proportional to the weight
        keyed = [(self.rng.random() ** (1.0 / d.weight), d) for d in deployments]
        return [d for _, d in sorted(keyed, key=lambda pair: pair[0], reverse=True)]

    def _sticky(self, key: str | None, now: float) -> str | None:
        if key is None:
            return None
        entry = self._affinity.get(key)
        if entry is None or entry[1] < now:
            return None
        return entry[0]

    # -- load ----------------------------------------------------------------------------------------------------
    def _over_limit(self, deployment: Deployment, now: float) -> bool:
        if deployment.rpm is None and deployment.tpm is None:
            return False
        start, requests, tokens = self._window.get(deployment.id, (now, 0, 0))
        if now - start >= WINDOW_SECONDS:
            return False
        return (deployment.rpm is not None and requests >= deployment.rpm) or (
            deployment.tpm is not None and tokens >= deployment.tpm
        )

    def started(self, deployment: Deployment, tokens: int) -> float:
        """An attempt begins: counts it in flight and against the rpm/tpm window; returns its start time."""
        now = self.clock()
        self._in_flight[deployment.id] = self._in_flight.get(deployment.id, 0) + 1
        start, requests, used = self._window.get(deployment.id, (now, 0, 0))
        if now - start >= WINDOW_SECONDS:
            start, requests, used = now, 0, 0
        self._window[deployment.id] = (start, requests + 1, used + tokens)
        return float(now)

    def finished(self, deployment: Deployment) -> None:
        """The attempt's response is complete (or the attempt failed): no longer in flight."""
        count = self._in_flight.get(deployment.id, 0) - 1
        if count > 0:
            self._in_flight[deployment.id] = count
        else:
            self._in_flight.pop(deployment.id, None)

    def in_flight(self, deployment: Deployment) -> int:
        return self._in_flight.get(deployment.id, 0)

    def finisher(self, deployment: Deployment) -> Callable[[], None]:
        """A callable that marks the attempt finished once, whoever calls it first."""
        done = False

        def finish() -> None:
            nonlocal done
            if not done:
                done = True
                self.finished(deployment)

        return finish

    # -- health --------------------------------------------------------------------------------------------------
    async def sync(self, decision: Decision) -> None:
        """Pull shared cooldowns of the decision's candidates from Redis (no-op without Redis)."""
        if self.redis is None:
            return
        keys = [self.redis_prefix + d.id for d in decision.candidates]
        try:
            ttls = await self._pttls(keys)
        except Exception:
            return
        now = self.clock()
        for dep, ttl in zip(decision.candidates, ttls, strict=True):
            if isinstance(ttl, int) and ttl > 0:
                self._cool_until[dep.id] = max(self._cool_until.get(dep.id, 0.0), now + ttl / 1000)

    async def _pttls(self, keys: list[str]) -> list[Any]:
        pipe = self.redis.pipeline()
        for key in keys:
            pipe.pttl(key)
        return list(await pipe.execute())

    async def failed(self, deployment: Deployment, retry_after: float | None = None) -> None:
        count = self._fails.get(deployment.id, 0) + 1
        self._fails[deployment.id] = count
        if count >= max(self.config.allowed_fails, 1) or retry_after:
            pause = max(self.config.cooldown_seconds, retry_after or 0.0)
            self._cool_until[deployment.id] = self.clock() + pause
            if self.redis is not None and pause > 0:
                try:
                    await self.redis.set(self.redis_prefix + deployment.id, "1", px=int(pause * 1000))
                except Exception:
                    pass

    async def succeeded(
        self, deployment: Deployment, decision: Decision | None = None, started: float | None = None
    ) -> None:
        """The deployment answered: clears its failures, samples its latency (time to the response headers) and
        makes it the conversation's sticky deployment."""
        now = self.clock()
        if started is not None:
            sample = now - started
            previous = self._latency.get(deployment.id)
            self._latency[deployment.id] = (
                sample if previous is None else LATENCY_ALPHA * sample + (1 - LATENCY_ALPHA) * previous
            )
        if decision is not None and decision.affinity_key is not None and deployment.group == decision.group:
            self._affinity[decision.affinity_key] = (deployment.id, now + self.config.affinity_ttl_seconds)
            self._affinity.move_to_end(decision.affinity_key)
            while len(self._affinity) > AFFINITY_CAPACITY:
                self._affinity.popitem(last=False)
        self._fails.pop(deployment.id, None)
        if self._cool_until.pop(deployment.id, None) is not None and self.redis is not None:
            try:
                await self.redis.delete(self.redis_prefix + deployment.id)
            except Exception:
                pass

    def cooling(self, deployment: Deployment) -> bool:
        return bool(self._cool_until.get(deployment.id, 0.0) > self.clock())

    def health(self, deployment: Deployment) -> dict[str, Any]:
        """What this process knows of a deployment (the status page): cooldown left, recent failures, requests in
        flight and the latency moving average (None before the first sample)."""
        left = self._cool_until.get(deployment.id, 0.0) - self.clock()
        latency = self._latency.get(deployment.id)
        return {
            "cooldown_seconds": round(left, 1) if left > 0 else 0.0,
            "fails": self._fails.get(deployment.id, 0),
            "in_flight": self._in_flight.get(deployment.id, 0),
            "latency_ms": round(latency * 1000) if latency is not None else None,
        }


def catalogue(config: RoutingConfig) -> list[tuple[str, str]]:
    """The one model list (``/v1/models``, ``/v1/models/{id}``, the CLI bootstrap's options): ``routing.models`` when
    configured; else the default Claude ids (when something routes them), then every group name and visible alias.
    Every id listed routes."""
    listed: list[tuple[str, str]] = list(config.models)
    if not listed:
        listed = [(mid, name) for mid, name in DEFAULT_MODELS if config.group_for(mid, tier_of(mid), None)]
        # a group whose deployments forward the client's own id (``anthropic/*``) is not a model of its own
        named = [g for g, deps in config.groups.items() if any(d.model != "*" for d in deps)]
        visible = [a for a in config.aliases if a not in config.hidden_aliases and config.aliases[a] in named]
        names: Iterable[str] = [*named, *visible]
        listed += [(name, name) for name in names]
    seen: set[str] = set()
    return [(mid, name) for mid, name in listed if not (mid in seen or seen.add(mid))]  # type: ignore[func-returns-value]
