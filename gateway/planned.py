"""Handlers of operations that are in the contract but not implemented yet: they answer 501 honestly."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, NoReturn

from gateway.errors import NotImplementedOperation


def planned(operation_id: str) -> Callable[..., Awaitable[NoReturn]]:
    """A handler for ``operation_id`` that raises 501 with the Anthropic error envelope, naming the operation."""

    async def handler(*_args: Any, **_kwargs: Any) -> NoReturn:
        raise NotImplementedOperation(operation_id)

    handler.__name__ = operation_id.rsplit(".", 1)[-1]
    handler.__qualname__ = operation_id
    return handler
