"""Long-lived services (upstream clients, routers, sinks) owned by the app's lifespan.

Each feature contributes one factory: given the settings and the state the services before it yielded, an async
context manager that starts its service and yields the entries it adds to the lifespan state (``scope["state"]``).
A service that needs another (the batch runner needs the store and the native router) comes after it, so it also
stops before it. Handlers reach them through
:func:`from_request`. Nothing is created at import time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Any

from connexion import request as current_request

from gateway.settings import Settings

ServiceFactory = Callable[[Settings, Mapping[str, Any]], AbstractAsyncContextManager[Mapping[str, Any]]]


def _factories() -> tuple[ServiceFactory, ...]:
    # imported here so that a feature's heavy imports happen when the app starts, not when gateway is imported
    from gateway.keys.service import keys_service
    from gateway.native import native_service
    from gateway.ops.service import ops_service
    from gateway.proxy.service import proxy_service
    from gateway.runtime.service import runtime_service
    from gateway.scheduler import scheduler_service
    from gateway.storage.batches import batch_service
    from gateway.storage.service import storage_service

    return (
        ops_service,
        native_service,
        proxy_service,
        storage_service,
        keys_service,
        batch_service,
        runtime_service,
        scheduler_service,
    )


@asynccontextmanager
async def started(settings: Settings) -> AsyncIterator[dict[str, Any]]:
    """Start every service; yields the merged state; stops them in reverse order."""
    state: dict[str, Any] = {}
    async with AsyncExitStack() as stack:
        for factory in _factories():
            state.update(await stack.enter_async_context(factory(settings, state)))
        yield state


def from_request(name: str) -> Any:
    """The lifespan-state entry ``name`` for the current request (raises KeyError if the service is absent)."""
    state = current_request.scope.get("state") or {}
    return state[name]


def optional_from_request(name: str) -> Any:
    """The lifespan-state entry ``name`` for the current request, or None when that service is absent."""
    state = current_request.scope.get("state") or {}
    return state.get(name)
