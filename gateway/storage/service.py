"""Lifespan factory of the storage (engine + migrations at start-up) and the request-side accessors."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from gateway import services
from gateway.settings import Settings
from gateway.storage.config import StorageConfig, parse_storage
from gateway.storage.db import create_engine, migrate
from gateway.storage.store import Store

STATE = "storage"
CONFIG_STATE = "storage_config"
DEFAULT_WORKSPACE = "default"


@asynccontextmanager
async def storage_service(settings: Settings, _state: Mapping[str, Any]) -> AsyncIterator[Mapping[str, Any]]:
    """Parse ``storage:``, open the engine, run the migrations; dispose of the engine on shutdown."""
    config = parse_storage(settings.raw)
    engine = create_engine(config)
    try:
        await migrate(engine, config)
        yield {STATE: Store(engine), CONFIG_STATE: config}
    finally:
        await engine.dispose()


def store() -> Store:
    """The store of the current request."""
    value: Store = services.from_request(STATE)
    return value


def storage_config() -> StorageConfig:
    """The parsed ``storage:`` section of the current request's app (blob directory, secret key)."""
    value: StorageConfig = services.from_request(CONFIG_STATE)
    return value


def workspace() -> str:
    """The workspace of the authenticated gateway key (local mode: ``default``)."""
    from connexion.context import context

    try:
        info = context.get("token_info")
    except LookupError:  # outside a request
        return DEFAULT_WORKSPACE
    if isinstance(info, Mapping):
        value = info.get("workspace")
        if isinstance(value, str) and value:
            return value
    return DEFAULT_WORKSPACE
