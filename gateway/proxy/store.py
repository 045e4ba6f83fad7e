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
LOCAL_KEY = "local"  # the one tenant of local mode (gateway.auth.LOCAL_IDENTITY's sub)
DEFAULT_WORKSPACE = "default"


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

    def _settings_of(self, key: str) -> dict[str, Any]:
        """The settings of the gateway key named ``key`` (``local``: local mode's, kept where they always were)."""
        if key == LOCAL_KEY:
            settings: dict[str, Any] = self._data["account_settings"]
            return settings
        by_key: dict[str, dict[str, Any]] = self._data.setdefault("account_settings_by_key", {})
        return by_key.setdefault(key, dict(DEFAULT_SETTINGS))

    def account_settings(self, key: str = LOCAL_KEY) -> dict[str, Any]:
        return copy.deepcopy(self._settings_of(key))

    async def update_account_settings(self, key: str, changes: Mapping[str, Any]) -> dict[str, Any]:
        async with self._lock:
            current = self._settings_of(key)
            for key, value in changes.items():
                if key not in READ_ONLY_SETTINGS:
                    current[key] = value
            await self._save()
            return copy.deepcopy(current)

    def admin_requests(self, workspace: str, request_type: str, statuses: set[str] | None) -> list[dict[str, Any]]:
        return [
            self._public(r)
            for r in self._in_workspace(workspace)
            if r["request_type"] == request_type and (not statuses or r["status"] in statuses)
        ]

    def _in_workspace(self, workspace: str) -> list[dict[str, Any]]:
        """Admin requests of one workspace's organization (those stored before issue 17 belong to ``default``)."""
        return [r for r in self._data["admin_requests"] if r.get("workspace", DEFAULT_WORKSPACE) == workspace]

    async def create_admin_request(
        self, workspace: str, request_type: str, details: Any, requester_uuid: str
    ) -> tuple[dict[str, Any], bool]:
        """The workspace's pending request of this type if there is one (False), else a new one (True)."""
        async with self._lock:
            for existing in self._in_workspace(workspace):
                if existing["request_type"] == request_type and existing["status"] == "pending":
                    return self._public(existing), False
            created = {
                "uuid": str(uuid.uuid4()),
                "status": "pending",
                "requester_uuid": requester_uuid,
                "created_at": utc_now(),
                "request_type": request_type,
                "details": details,
            }
            self._data["admin_requests"].append({**created, "workspace": workspace})
            await self._save()
            return copy.deepcopy(created), True

    @staticmethod
    def _public(request: Mapping[str, Any]) -> dict[str, Any]:
        return {k: copy.deepcopy(v) for k, v in request.items() if k != "workspace"}

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
