"""Every request a fake receives (control endpoints under `/_fake/` excepted), in arrival order."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    method: str
    path: str
    query: Mapping[str, str]  # last value wins for repeated keys; see query_string for the raw form
    query_string: str
    headers: Mapping[str, str]  # names lower-cased; repeated headers joined with ", "
    json: Any  # the parsed body, None if empty or not JSON
    body: bytes
    received_at: float  # time.time() when the body had been read
    received_monotonic: float  # time.monotonic() at the same moment (same clock as the test process)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "query": dict(self.query),
            "query_string": self.query_string,
            "headers": dict(self.headers),
            "json": self.json,
            "body_b64": base64.b64encode(self.body).decode("ascii"),
            "received_at": self.received_at,
            "received_monotonic": self.received_monotonic,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RecordedRequest:
        return cls(
            method=data["method"],
            path=data["path"],
            query=data["query"],
            query_string=data["query_string"],
            headers=data["headers"],
            json=data["json"],
            body=base64.b64decode(data["body_b64"]),
            received_at=data["received_at"],
            received_monotonic=data["received_monotonic"],
        )


def parse_json(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None


def lower_headers(request: web.Request) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return headers


class Recorder:
    """Thread-safe append-only log of `RecordedRequest`s; `enabled=False` keeps nothing (benchmarks)."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._lock = threading.Lock()
        self._items: list[RecordedRequest] = []

    def record(self, request: web.Request, raw: bytes, parsed: Any) -> None:
        if not self.enabled:
            return
        item = RecordedRequest(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            query_string=request.query_string,
            headers=lower_headers(request),
            json=parsed,
            body=raw,
            received_at=time.time(),
            received_monotonic=time.monotonic(),
        )
        with self._lock:
            self._items.append(item)

    def snapshot(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
