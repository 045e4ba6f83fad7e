"""`RemoteFake`: drive a fake running in another process (`python -m bench.fakes ...`) over its control endpoints."""

from __future__ import annotations

from typing import Any

import httpx

from bench.fakes.behavior import Behavior
from bench.fakes.recording import RecordedRequest


class RemoteFake:
    """Same verbs as `FakeServer` (requests, script, reset, default), over HTTP: `RemoteFake("http://127.0.0.1:N")`."""

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self._client = httpx.Client(base_url=self.url, timeout=timeout)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> RemoteFake:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def requests(self) -> list[RecordedRequest]:
        response = self._client.get("/_fake/requests")
        response.raise_for_status()
        return [RecordedRequest.from_json(item) for item in response.json()]

    def script(self, *behaviors: Behavior) -> int:
        """Queue behaviours; returns how many are pending."""
        return self._post({"behaviors": [b.to_json() for b in behaviors]})["pending"]

    @property
    def default(self) -> Behavior:
        response = self._client.get("/_fake/script")
        response.raise_for_status()
        return Behavior.from_json(response.json()["default"])

    @default.setter
    def default(self, behavior: Behavior) -> None:
        self._post({"behaviors": [], "default": behavior.to_json()})

    @property
    def pending(self) -> int:
        response = self._client.get("/_fake/script")
        response.raise_for_status()
        return int(response.json()["pending"])

    def reset(self) -> None:
        self._client.post("/_fake/reset").raise_for_status()

    def _post(self, payload: dict[str, Any]) -> dict[str, int]:
        response = self._client.post("/_fake/script", json=payload)
        response.raise_for_status()
        result: dict[str, int] = response.json()
        return result
