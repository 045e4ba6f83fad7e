"""Handlers of operations that are in the contract but not implemented yet: they answer 501 honestly."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, NoReturn

from gateway.errors import NotImplementedOperation


def planned(operation_id: str, reason: str | None = None) -> Callable[..., Awaitable[NoReturn]]:
    """A handler for ``operation_id`` that raises 501 with the Anthropic error envelope, naming the operation (and
    why it is not built, when ``reason`` says so; the README's implementation map says the same)."""

    async def handler(*_args: Any, **_kwargs: Any) -> NoReturn:
        raise NotImplementedOperation(operation_id, reason=reason)

    handler.__name__ = operation_id.rsplit(".", 1)[-1]
    handler.__qualname__ = operation_id
    return handler
