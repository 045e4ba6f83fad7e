"""Tools the gateway answers itself (the server side of the reference §2's table).

A call of a tool registered here is marked ``_server`` when its model request completes; the driver then runs it
(:class:`gateway.runtime.transcript.RunTools`) and stores an ``agent.tool_result``. A call whose process died while
it ran has no result in the log, so the next owner runs it again: server tools run at least once, and a tool whose
effects must not repeat has to make itself idempotent.

Which tools are registered is decided in the runtime's lifespan (an executor for the built-in toolset on ``cloud``
environments, for example); with nothing registered, every call goes to a client or ends the turn as before."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from gateway.storage.store import Record


@dataclass(frozen=True, slots=True)
class ServerCall:
    workspace: str
    session: Record
    #: the session's environment (None if it no longer exists)
    environment: Record | None
    #: the stored ``agent.tool_use`` event (``name``, ``input``, ``id`` and the runtime's ``_`` annotations)
    event: Mapping[str, Any]

    @property
    def name(self) -> str:
        return str(self.event.get("name"))

    @property
    def input(self) -> Mapping[str, Any]:
        value = self.event.get("input")
        return value if isinstance(value, Mapping) else {}


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the model gets back: content blocks (``text`` …) and whether the call failed."""

    content: list[dict[str, Any]]
    is_error: bool = False
    #: a ``session.error``'s ``error`` object: the turn ends after this result (gateway.runtime.failures)
    ends_turn: dict[str, Any] | None = None

    @classmethod
    def text(cls, text: str, *, is_error: bool = False, ends_turn: dict[str, Any] | None = None) -> Outcome:
        return cls([{"type": "text", "text": text or "(no output)"}], is_error, ends_turn)


class ServerTool(Protocol):
    async def __call__(self, call: ServerCall) -> Outcome: ...


@dataclass(frozen=True, slots=True)
class _Entry:
    tool: ServerTool
    cloud_only: bool


@dataclass
class ServerTools:
    """The registry the driver consults for every tool call."""

    _tools: dict[str, _Entry] = field(default_factory=dict)

    def register(self, name: str, tool: ServerTool, *, cloud_only: bool) -> None:
        """Answer calls of ``name`` here; ``cloud_only`` tools are left to the worker on self-hosted environments."""
        self._tools[name] = _Entry(tool, cloud_only)

    def handles(self, name: str, *, cloud: bool) -> bool:
        entry = self._tools.get(name)
        return entry is not None and (cloud or not entry.cloud_only)

    async def run(self, call: ServerCall) -> Outcome:
        entry = self._tools.get(call.name)
        if entry is None:  # unregistered since the call was made (a restart with another config)
            return Outcome.text(f"the gateway no longer runs the tool {call.name!r}", is_error=True)
        return await entry.tool(call)
