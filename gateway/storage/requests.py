"""Request-side helpers shared by several handler modules (they read the current request / app state)."""

from __future__ import annotations

from collections.abc import Sequence

from connexion import request

from gateway.storage import code_sessions, code_stream, secrets, sessions
from gateway.storage.service import storage_config, store, workspace
from gateway.streaming import SubscriptionResponse

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def seal_secret(token: str) -> str:
    """Encrypt a write-only secret (a repository token) with the storage's secret key."""
    return secrets.encrypt(storage_config(), token)


async def event_stream(
    session_id: str, thread_id: str | None = None, previews: Sequence[str] | None = None
) -> SubscriptionResponse:
    """The event stream of a session (or of one of its threads), resumable with ``Last-Event-ID``; ``previews``
    are the ``event_deltas[]`` the client asked for."""
    body = await sessions.open_stream(
        store(),
        workspace(),
        session_id,
        last_event_id=request.headers.get("last-event-id"),
        thread_id=thread_id,
        disconnected=request.is_disconnected,
        previews=previews or (),
    )
    return SubscriptionResponse(body, media_type="text/event-stream", headers=SSE_HEADERS)


async def code_event_stream(
    session_id: str, from_sequence_num: int | None, *, only_client: bool
) -> SubscriptionResponse:
    """The viewer's or the worker's SSE stream, resumed after ``from_sequence_num`` or ``Last-Event-ID``."""
    record = await code_sessions.get(store(), workspace(), session_id)
    after = max(
        code_stream.sequence(from_sequence_num, "from_sequence_num"),
        code_stream.sequence(request.headers.get("last-event-id"), "Last-Event-ID"),
    )
    body = code_stream.open_stream(
        store(),
        workspace(),
        record,
        code_sessions.code_id_of(record.id),
        after=after,
        only_client=only_client,
        disconnected=request.is_disconnected,
    )
    return SubscriptionResponse(body, media_type="text/event-stream", headers=SSE_HEADERS)
