"""Previews of a running model request (``event_start`` / ``event_delta``) and the ids they promise.

A preview names the id of the event that will conclude it, so the ids of ``agent.message`` (one per contiguous run
of text blocks) and ``agent.thinking`` (one per thinking block) are chosen here, when the block starts, and used
again when the events are stored. Previews are built only when some stream of this process asked for them."""

from __future__ import annotations

from typing import Any

from gateway.storage.bus import Bus, Preview
from gateway.storage.store import new_id

EVENT_PREFIX = "sevt"


class Previews:
    """A :class:`gateway.runtime.model.Sink` that publishes previews on ``bus`` and remembers the chosen ids."""

    def __init__(self, bus: Bus, session_id: str, *, publish: bool = True, held: bool = False) -> None:
        """``publish=False``: choose the ids only (a child thread's messages are not previewed on the session's
        stream, which shows only what the thread cross-posts). ``held``: keep the previews until :meth:`release`
        (the request's ``span.model_request_start`` is stored while the request runs; its previews come after it)."""
        self.bus, self.session_id, self.publish = bus, session_id, publish
        self._held: list[Preview] | None = [] if held else None
        self.ids: dict[int, str] = {}  # content block index -> id of the event that starts there
        self._run: str | None = None  # the agent.message being previewed (a run of text blocks)
        self._run_blocks: dict[int, int] = {}  # content block index -> index inside that agent.message

    def _publish(self, event_type: str, event_id: str, doc: dict[str, Any]) -> None:
        if not self.publish:
            return
        if self._held is not None:
            self._held.append(Preview(event_type, event_id, doc))
        else:
            self.bus.preview(self.session_id, Preview(event_type, event_id, doc))

    def release(self) -> None:
        """Publish the held previews, and the next ones as they come."""
        held, self._held = self._held or [], None
        for preview in held:
            self.bus.preview(self.session_id, preview)

    def block_start(self, index: int, kind: str) -> None:
        if kind == "text":
            if self._run is None:
                self._run = self.ids[index] = new_id(EVENT_PREFIX)
                self._run_blocks = {}
                start = {"type": "event_start", "event": {"type": "agent.message", "id": self._run}}
                self._publish("agent.message", self._run, start)
            self._run_blocks[index] = len(self._run_blocks)
            return
        self._run = None
        if kind in ("thinking", "redacted_thinking"):
            event_id = self.ids[index] = new_id(EVENT_PREFIX)
            self._publish(
                "agent.thinking", event_id, {"type": "event_start", "event": {"type": "agent.thinking", "id": event_id}}
            )

    def text(self, index: int, piece: str) -> None:
        if self._run is None or index not in self._run_blocks or not piece:
            return
        if not self.bus.watched(self.session_id, "agent.message"):
            return
        delta = {
            "type": "event_delta",
            "event_id": self._run,
            "delta": {
                "type": "content_delta",
                "index": self._run_blocks[index],
                "content": {"type": "text", "text": piece},
            },
        }
        self._publish("agent.message", self._run, delta)
