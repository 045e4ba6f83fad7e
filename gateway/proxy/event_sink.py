"""The local event-logging sink: kept telemetry goes to a JSONL file on this machine, rotated by size.

One line per event: ``{"received_at", "request_id", "endpoint", "event"}`` where ``event`` is the object exactly as
the client sent it. When the file would grow past ``max_bytes`` it is renamed ``<path>.1`` (older ones shift up to
``<path>.<backups>``, the oldest is deleted) and a new file is started. Without a path, kept events are counted and
dropped — either way they never leave the machine.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from gateway.proxy.config import SinkConfig


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class EventSink:
    def __init__(self, config: SinkConfig) -> None:
        self.path = config.path
        self.max_bytes = config.max_bytes
        self.backups = config.backups
        self.kept = 0
        self.dropped = 0
        self._lock = threading.Lock()

    async def keep(self, events: Sequence[Any], *, request_id: str | None, endpoint: str) -> int:
        """Append ``events``; returns how many were kept (written, or counted when there is no file)."""
        received_at = utc_now()
        lines = [
            _line({"received_at": received_at, "request_id": request_id, "endpoint": endpoint, "event": e})
            for e in events
        ]
        if self.path is None:
            self.dropped += len(lines)
            return len(lines)
        await asyncio.to_thread(self._write, lines)
        self.kept += len(lines)
        return len(lines)

    def _write(self, lines: list[bytes]) -> None:
        assert self.path is not None
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            for line in lines:
                size = self.path.stat().st_size if self.path.exists() else 0
                if size and size + len(line) > self.max_bytes:
                    self._rotate()
                with open(self.path, "ab") as fh:
                    fh.write(line)

    def _rotate(self) -> None:
        assert self.path is not None
        if self.backups == 0:
            self.path.unlink(missing_ok=True)
            return
        for i in range(self.backups - 1, 0, -1):
            older = _numbered(self.path, i)
            if older.exists():
                os.replace(older, _numbered(self.path, i + 1))
        os.replace(self.path, _numbered(self.path, 1))

    def stats(self) -> Mapping[str, Any]:
        return {"path": str(self.path) if self.path else None, "kept": self.kept, "dropped": self.dropped}


def _line(record: Mapping[str, Any]) -> bytes:
    """One JSON line. JSON may carry lone surrogates (``"\\udaca"``), which are not UTF-8: those records are written
    with ASCII escapes instead, so they round-trip exactly."""
    try:
        return orjson.dumps(record) + b"\n"
    except orjson.JSONEncodeError:
        return json.dumps(record, ensure_ascii=True, separators=(",", ":")).encode("ascii") + b"\n"


def _numbered(path: Path, index: int) -> Path:
    return path.with_name(f"{path.name}.{index}")
