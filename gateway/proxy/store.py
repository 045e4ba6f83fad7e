"""Local-mode state that clients write: account settings and admin requests.

Kept in one JSON file (``<data_dir>/local_state.json``, replaced atomically on every change) when
``passthrough.local.data_dir`` is set, otherwise in memory for the life of the process. This is deliberately small:
when the gateway's custom-resource storage exists, this should move there.
"""

from __future__ import annotations

import asyncio
import copy
import os
import tempfile
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from gateway.proxy.event_sink import utc_now
from gateway.settings import ConfigError

STATE_FILE = "local_state.json"
DEFAULT_SETTINGS: Mapping[str, Any] = {"grove_enabled": None, "grove_notice_viewed_at": None}
READ_ONLY_SETTINGS = frozenset({"grove_notice_viewed_at"})


class LocalStore:
    def __init__(self, data_dir: Path | None) -> None:
        self.file = data_dir / STATE_FILE if data_dir is not None else None
        self._data: dict[str, Any] = {"account_settings": dict(DEFAULT_SETTINGS), "admin_requests": []}
        self._lock = asyncio.Lock()
        if self.file is not None and self.file.exists():
            try:
                loaded = orjson.loads(self.file.read_bytes())
            except (OSError, orjson.JSONDecodeError) as exc:
                raise ConfigError(f"passthrough.local.data_dir: cannot read {self.file}: {exc}") from exc
            if not isinstance(loaded, dict):
                raise ConfigError(f"passthrough.local.data_dir: {self.file} is not a JSON object")
            self._data.update(loaded)

    @property
    def persistent(self) -> bool:
        return self.file is not None

    def account_settings(self) -> dict[str, Any]:
        return copy.deepcopy(self._data["account_settings"])

    async def update_account_settings(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        async with self._lock:
            current = self._data["account_settings"]
            for key, value in changes.items():
                if key not in READ_ONLY_SETTINGS:
                    current[key] = value
            await self._save()
            return copy.deepcopy(current)

    def admin_requests(self, request_type: str, statuses: set[str] | None) -> list[dict[str, Any]]:
        return [
            copy.deepcopy(r)
            for r in self._data["admin_requests"]
            if r["request_type"] == request_type and (not statuses or r["status"] in statuses)
        ]

    async def create_admin_request(
        self, request_type: str, details: Any, requester_uuid: str
    ) -> tuple[dict[str, Any], bool]:
        """The pending request of this type if there is one (False), else a new one (True)."""
        async with self._lock:
            for existing in self._data["admin_requests"]:
                if existing["request_type"] == request_type and existing["status"] == "pending":
                    return copy.deepcopy(existing), False
            created = {
                "uuid": str(uuid.uuid4()),
                "status": "pending",
                "requester_uuid": requester_uuid,
                "created_at": utc_now(),
                "request_type": request_type,
                "details": details,
            }
            self._data["admin_requests"].append(created)
            await self._save()
            return copy.deepcopy(created), True

    async def _save(self) -> None:
        if self.file is None:
            return
        await asyncio.to_thread(_atomic_write, self.file, orjson.dumps(self._data, option=orjson.OPT_INDENT_2))


def _atomic_write(file: Path, data: bytes) -> None:
    file.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=file.parent, prefix=file.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, file)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
