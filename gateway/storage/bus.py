"""In-process notifications for event streams.

:class:`Bus` tells the open streams of this process that something happened on a session stream, so that they do
not wait for their next poll of the event table: ``stored`` after an append (the table stays the source of truth;
a stream reads it on every wake-up) and ``preview`` for the stream-only ``event_start`` / ``event_delta`` frames
of a running model request, which are never stored. Streams attached to another gateway process learn about stored
events by polling the table; they get no previews (a preview only exists in the process that runs the turn).

Publishing never blocks: a subscriber's queue is unbounded but holds only previews and wake-ups for the time it
takes the stream to read them."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Preview:
    """A stream-only frame (``event_start`` / ``event_delta``) for the event ``event_id`` of type ``event_type``."""

    event_type: str
    event_id: str
    doc: Mapping[str, Any]


#: what a subscriber queue carries: a Preview, or None (= "look at the table", also "the stream ended")
Item = Preview | None


@dataclass(eq=False)
class Subscription:
    stream_id: str
    previews: frozenset[str]  # the event types whose previews this subscriber asked for
    queue: asyncio.Queue[Item] = field(default_factory=asyncio.Queue)

    def drain(self) -> list[Preview]:
        out: list[Preview] = []
        while not self.queue.empty():
            item = self.queue.get_nowait()
            if item is not None:
                out.append(item)
        return out


class Bus:
    def __init__(self) -> None:
        self._subs: dict[str, set[Subscription]] = defaultdict(set)

    def subscribe(self, stream_id: str, previews: frozenset[str] = frozenset()) -> Subscription:
        sub = Subscription(stream_id, previews)
        self._subs[stream_id].add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        subs = self._subs.get(sub.stream_id)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._subs[sub.stream_id]

    def stored(self, stream_id: str) -> None:
        """Events were appended to ``stream_id`` (or the stream changed state: deleted, archived)."""
        for sub in self._subs.get(stream_id, ()):
            sub.queue.put_nowait(None)

    def preview(self, stream_id: str, item: Preview) -> None:
        for sub in self._subs.get(stream_id, ()):
            if item.event_type in sub.previews:
                sub.queue.put_nowait(item)

    def watched(self, stream_id: str, event_type: str) -> bool:
        """Whether some subscriber of ``stream_id`` wants previews of ``event_type`` (skip building them if not)."""
        return any(event_type in sub.previews for sub in self._subs.get(stream_id, ()))
