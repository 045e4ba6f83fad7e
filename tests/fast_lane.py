"""Finding an app's Messages fast lane (gateway.fastlane) from the ASGI app ``create_app`` returns."""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp

from gateway.fastlane import FastLane


def lane_of(app: ASGIApp) -> FastLane:
    """The app's fast lane, found by walking its middlewares (``app``/``http``/``middleware`` attributes and
    connexion's built ``middleware_stack``)."""
    pending: list[Any] = [app]
    seen: set[int] = set()
    while pending:
        item = pending.pop()
        if isinstance(item, FastLane):
            return item
        if id(item) in seen:
            continue
        seen.add(id(item))
        pending.extend(getattr(item, name) for name in ("app", "http", "middleware") if hasattr(item, name))
        stack = getattr(item, "middleware_stack", None)
        pending.extend(stack if isinstance(stack, list) else [])
    raise AssertionError("no fast lane in the app")
