"""Session model calls metered against the key that created the session (issue 14, gateway.keys).

A session created with a gateway key carries that key's identity (the private ``_identity`` of the session document,
never shown to clients). Each model request of its turns goes through :func:`gateway.keys.metering.metered_messages`
as a client's ``POST /v1/messages`` with that key would: the key's model list, budget and rpm/tpm are checked first
(a refusal is the request's error: ``billing_error`` and ``permission_error`` end the turn, ``rate_limit_error`` is
retried like an upstream 429), and the answer's usage is recorded as the key's spend. Sessions created without a
key identity (deployment runs, processes without the keys service) are not metered."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response

from gateway.keys import metering
from gateway.keys.service import KeysService
from gateway.native import NativeService
from gateway.runtime.model import Native

IDENTITY = "_identity"


@dataclass(frozen=True)
class MeteredNative:
    """A :class:`gateway.runtime.model.Native` that admits and records each request for ``identity``."""

    keys: KeysService
    native: NativeService
    identity: Mapping[str, str]
    request_id: str

    async def messages(self, body: dict[str, Any], raw: bytes, headers: Mapping[str, str]) -> Response:
        return await metering.metered_messages(
            self.keys, self.native, self.identity, body, raw, headers, query="", request_id=self.request_id
        )


def identity_of(session_doc: Mapping[str, Any]) -> dict[str, str] | None:
    """The creating key's identity stored with the session, if any."""
    stored = session_doc.get(IDENTITY)
    if not isinstance(stored, Mapping):
        return None
    return {str(k): str(v) for k, v in stored.items() if isinstance(v, str)}


def for_session(keys: KeysService | None, native: Native, session_doc: Mapping[str, Any], request_id: str) -> Native:
    """``native``, metered against the session's key when it has one and the app runs the keys service."""
    identity = identity_of(session_doc)
    if keys is None or identity is None or not isinstance(native, NativeService):
        return native
    return MeteredNative(keys, native, identity, request_id)
