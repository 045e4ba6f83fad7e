"""Route decision (tier, effort and model rules -> group -> ordered deployments) and deployment cooldowns."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from gateway.errors import NotFound
from gateway.routing.config import Deployment, RoutingConfig
from gateway.routing.model_ids import effort_of, tier_of


@dataclass(frozen=True)
class Decision:
    model: str
    tier: str | None
    effort: str | None
    group: str
    candidates: tuple[Deployment, ...]  # the group's deployments, then each fallback group's, in order

    def header(self, deployment: Deployment | None = None) -> str:
        """The ``x-gateway-route`` header value (no secrets)."""
        parts = [f"tier={self.tier or '-'}", f"effort={self.effort or '-'}", f"group={self.group}"]
        if deployment is not None:
            parts.append(f"deployment={deployment.id}")
        return "; ".join(parts)


class Router:
    """Decisions and cooldowns. Cooldowns live in memory; with ``router_settings.redis_url`` they are also written
    to Redis (``SET <prefix><deployment> PX``) and read back before each decision, so every gateway process sharing
    that Redis skips a deployment another one saw failing."""

    def __init__(self, config: RoutingConfig, clock: Any = time.monotonic, redis: Any = None) -> None:
        self.config = config
        self.clock = clock
        self.redis = redis
        self.redis_prefix = "litellm-gateway:cooldown:"
        self._fails: dict[str, int] = {}
        self._cool_until: dict[str, float] = {}

    def group_for(self, model: str, tier: str | None, effort: str | None) -> str:
        for rule in self.config.rules:
            if rule.matches(model, tier, effort):
                return rule.group
        if self.config.default_group is None:
            raise NotFound(f"model: {model} is not served by this gateway (no routing rule matches and no default)")
        return self.config.default_group

    def decide(self, body: dict[str, Any]) -> Decision:
        model = str(body.get("model", ""))
        tier, effort = tier_of(model), effort_of(body)
        group = self.group_for(model, tier, effort)
        chain = [group, *(g for g in self.config.fallbacks.get(group, ()) if g != group)]
        candidates = tuple(dep for name in chain for dep in self.config.groups[name])
        return Decision(model, tier, effort, group, candidates)

    def ordered(self, decision: Decision) -> list[Deployment]:
        """Candidates not cooling down first (in order), then the cooling ones: all are tried before giving up."""
        now = self.clock()
        ready = [d for d in decision.candidates if self._cool_until.get(d.id, 0.0) <= now]
        cooling = [d for d in decision.candidates if d not in ready]
        return ready + cooling

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

    async def succeeded(self, deployment: Deployment) -> None:
        self._fails.pop(deployment.id, None)
        if self._cool_until.pop(deployment.id, None) is not None and self.redis is not None:
            try:
                await self.redis.delete(self.redis_prefix + deployment.id)
            except Exception:
                pass

    def cooling(self, deployment: Deployment) -> bool:
        return bool(self._cool_until.get(deployment.id, 0.0) > self.clock())
