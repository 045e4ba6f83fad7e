"""A server tool that cannot run because of the session's environment or resources (packages that cannot be
installed, a repository that cannot be cloned): the call's result is an error the model reads, then a
``session.error`` with :attr:`EndsTurn.error` ends the turn (``retry_status: exhausted``: the turn is over, the
session is idle and takes new messages), since nothing the model does can fix the environment."""

from __future__ import annotations

from typing import Any


class EndsTurn(Exception):
    def __init__(self, message: str, error_type: str = "unknown_error", **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.error: dict[str, Any] = {
            "type": error_type,
            "message": message,
            "retry_status": {"type": "exhausted"},
            **extra,
        }
