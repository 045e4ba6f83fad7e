"""What a request's handler tells the access line, the metrics and the request span.

:class:`gateway.ops.access.OpsMiddleware` opens a :class:`RequestFacts` per HTTP request in a context variable;
code deeper in the request (the native service) fills it in with :func:`current`. Handlers, streaming bodies and
the middleware run in the same context (or copies of it that share the object), so what one writes the other
reads. Without the middleware (an app built without ops) :func:`current` returns None and nothing is recorded.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field

TOKEN_KINDS = ("input", "output", "cache_read", "cache_creation")


@dataclass
class RequestFacts:
    route_group: str = ""
    deployment: str = ""
    model: str = ""
    tier: str = ""
    effort: str = ""
    attempts: list[str] = field(default_factory=list)
    tokens: dict[str, int] = field(default_factory=dict)

    def route(self, *, group: str, deployment: str, model: str, tier: str, effort: str, attempts: list[str]) -> None:
        self.route_group, self.deployment, self.model = group, deployment, model
        self.tier, self.effort, self.attempts = tier, effort, list(attempts)

    def usage(self, usage: object) -> None:
        """Take the token counts of an Anthropic ``usage`` object (the latest value of each kind wins: a stream's
        ``message_delta`` carries cumulative counts)."""
        if not isinstance(usage, dict):
            return
        for kind, name in (
            ("input", "input_tokens"),
            ("output", "output_tokens"),
            ("cache_read", "cache_read_input_tokens"),
            ("cache_creation", "cache_creation_input_tokens"),
        ):
            value = usage.get(name)
            if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                self.tokens[kind] = value


_CURRENT: ContextVar[RequestFacts | None] = ContextVar("gateway_request_facts", default=None)


def current() -> RequestFacts | None:
    """The facts of the request being handled, or None outside one (or without the ops middleware)."""
    return _CURRENT.get()


def begin() -> tuple[RequestFacts, object]:
    """Open the facts of a new request; returns them and the token :func:`end` needs."""
    facts = RequestFacts()
    return facts, _CURRENT.set(facts)


def end(token: object) -> None:
    _CURRENT.reset(token)  # type: ignore[arg-type]
