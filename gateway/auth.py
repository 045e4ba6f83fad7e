"""Gateway API keys.

The spec's security schemes name :func:`api_key_info` (``x-api-key`` header) and :func:`bearer_info`
(``Authorization: Bearer``). connexion calls them as ``fn(token, required_scopes=..., request=...)``; they compare
``sha256(token)`` with the configured digests and return ``{"sub": name, "workspace": workspace}`` or ``None``
(connexion then answers 401, rendered as the Anthropic envelope by :mod:`gateway.error_handlers`).

Settings reach them through the lifespan state (``request.scope["state"]["key_index"]``), never module globals.
Without that state they fail closed.

A token that is not a gateway key but has the shape of a self-hosted worker's credential (an environment key or a
sessions token, :mod:`gateway.storage.environment_keys`) is looked up in the database and, if live, scoped to the
operation by :func:`gateway.worker_auth.authorise` (403/404 otherwise); its identity carries the credential's
workspace. A token shaped like a virtual key (``sk-gw-key-…``, :mod:`gateway.keys`) is looked up in the keys
table. Anything else is a 401.

Local mode (no keys configured): :func:`security_map` replaces connexion's apiKey and bearer handlers with ones that
accept every request, with or without credentials, as the identity :data:`LOCAL_IDENTITY` - except that a presented
worker credential is still looked up and scoped exactly as in key mode (an unknown or revoked one is a 401), so a
worker gets the same answers in both modes.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from connexion.security import ApiKeySecurityHandler, BasicSecurityHandler, BearerSecurityHandler
from connexion.utils import inspect_function_arguments

from gateway.errors import AuthenticationFailed
from gateway.keys.model import looks_like_virtual_key
from gateway.settings import Settings
from gateway.storage.environment_keys import looks_like_worker_credential

logger = logging.getLogger(__name__)

KEY_INDEX_STATE = "key_index"
SETTINGS_STATE = "settings"
STORAGE_STATE = "storage"  # gateway.storage.service.STATE
KEYS_STATE = "keys"  # gateway.keys.service.KEYS_STATE
LOCAL_IDENTITY: dict[str, str] = {"sub": "local", "workspace": "default"}
Identity = dict[str, str] | None | Awaitable[dict[str, str] | None]


@dataclass(frozen=True)
class KeyIndex:
    """The configured key digests and their owners."""

    entries: tuple[tuple[bytes, str, str], ...]  # (sha256 digest, name, workspace)

    @classmethod
    def from_settings(cls, settings: Settings) -> KeyIndex:
        return cls(tuple((bytes.fromhex(k.key_sha256), k.name, k.workspace) for k in settings.api_keys))

    def identify(self, token: str) -> dict[str, str] | None:
        """``{"sub", "workspace"}`` of the key ``token``, or None. Compares against every entry in constant time."""
        digest = hashlib.sha256(token.encode("utf-8")).digest()
        found: dict[str, str] | None = None
        for expected, name, workspace in self.entries:
            if hmac.compare_digest(digest, expected) and found is None:
                found = {"sub": name, "workspace": workspace}
        return found


def _state(request: Any) -> dict[str, Any] | None:
    scope = getattr(request, "scope", None)
    state = scope.get("state") if isinstance(scope, dict) else None
    return state if isinstance(state, dict) else None


def _identify(token: str, request: Any) -> Identity:
    state = _state(request)
    index = state.get(KEY_INDEX_STATE) if state is not None else None
    if not isinstance(index, KeyIndex):
        logger.error("no key index in the request state (lifespan not run?); refusing the request")
        return None
    found = index.identify(token)
    if found is None and looks_like_worker_credential(token):
        return _worker_identity(token, request)
    if found is None and looks_like_virtual_key(token):
        return _virtual_key_identity(token, state)
    return found


async def _virtual_key_identity(token: str, state: dict[str, Any] | None) -> dict[str, str] | None:
    """A virtual key's identity (gateway.keys), None when it is unknown; 401 when blocked or expired."""
    keys = state.get(KEYS_STATE) if state is not None else None
    if keys is None:
        return None
    found: dict[str, str] | None = await keys.identify(token)
    return found


async def _worker_identity(token: str, request: Any) -> dict[str, str] | None:
    """The scoped identity of a worker credential, None if it is not a live one; raises 403/404 out of scope."""
    from gateway import worker_auth
    from gateway.storage import environment_keys
    from gateway.storage.store import Store

    state = _state(request)
    store = state.get(STORAGE_STATE) if state is not None else None
    if not isinstance(store, Store):
        logger.error("no storage in the request state; refusing a worker credential")
        return None
    credential = await environment_keys.identify(store, token)
    if credential is None:
        return None
    scope = request.scope
    routing = (scope.get("extensions") or {}).get("connexion_routing") or {}
    operation_id = str(routing.get("operation_id") or "")  # resolved: "<handlers package>.<spec operationId>"
    settings = state.get(SETTINGS_STATE) if state is not None else None
    package = f"{settings.handlers_package}." if isinstance(settings, Settings) else ""
    operation_id = operation_id.removeprefix(package)
    await worker_auth.authorise(store, credential, operation_id, scope.get("path_params") or {})
    return worker_auth.identity(credential)


def api_key_info(token: str, required_scopes: Sequence[str] | None = None, *, request: Any = None) -> Identity:
    """``x-apikeyInfoFunc`` of the ``ApiKeyAuth`` scheme (header ``x-api-key``)."""
    return _identify(token, request)


def bearer_info(token: str, required_scopes: Sequence[str] | None = None, *, request: Any = None) -> Identity:
    """``x-bearerInfoFunc`` of the ``BearerAuth`` scheme (``Authorization: Bearer <key>``)."""
    return _identify(token, request)


def basic_info(
    username: str, password: str, required_scopes: Sequence[str] | None = None, *, request: Any = None
) -> Identity:
    """``x-basicInfoFunc`` of the ``BasicAuth`` scheme (only ``GET /``, the status page, declares it): a gateway key as
    the password, any user name, so that a browser can ask a person for the key."""
    return _identify(password, request)


def _presented_worker_credential(request: Any) -> str | None:
    """A worker credential in ``x-api-key`` or ``Authorization: Bearer``, if the request carries one."""
    headers = getattr(request, "headers", None) or {}
    candidates = [headers.get("x-api-key") or ""]
    scheme, _sep, value = (headers.get("authorization") or "").partition(" ")
    if scheme.lower() == "bearer":
        candidates.append(value.strip())
    return next((c for c in candidates if looks_like_worker_credential(c)), None)


async def _local_worker_identity(token: str, request: Any) -> dict[str, str]:
    found = await _worker_identity(token, request)
    if found is None:
        raise AuthenticationFailed("invalid environment key or sessions token")
    return found


def _local_identity(request: Any) -> dict[str, str] | Awaitable[dict[str, str]]:
    token = _presented_worker_credential(request)
    if token is not None:
        return _local_worker_identity(token, request)
    return dict(LOCAL_IDENTITY)


class _LocalApiKeyHandler(ApiKeySecurityHandler):  # type: ignore[misc]
    """Local mode: the apiKey scheme accepts every request."""

    def get_fn(self, security_scheme: Any, required_scopes: Any) -> Callable[[Any], Any]:
        return _local_identity


class _LocalBearerHandler(BearerSecurityHandler):  # type: ignore[misc]
    """Local mode: the bearer scheme accepts every request."""

    def get_fn(self, security_scheme: Any, required_scopes: Any) -> Callable[[Any], Any]:
        return _local_identity


class _LocalBasicHandler(BasicSecurityHandler):  # type: ignore[misc]
    """Local mode: the basic scheme accepts every request."""

    def get_fn(self, security_scheme: Any, required_scopes: Any) -> Callable[[Any], Any]:
        return _local_identity


@functools.cache
def _accepts(func: Callable[..., Any], keyword: str) -> bool:
    arguments, has_kwargs = inspect_function_arguments(func)
    return bool(has_kwargs or keyword in arguments)


class _ApiKeyHandler(ApiKeySecurityHandler):  # type: ignore[misc]
    """connexion's apiKey handler, but the key function's signature is inspected once, not twice per request (it was
    5 % of a proxied request's CPU: docs/development/notes/issue-3-benchmark.md, hot spot 2)."""

    @staticmethod
    def _accepts_kwarg(func: Callable[..., Any], keyword: str) -> bool:
        return _accepts(func, keyword)


class _BearerHandler(BearerSecurityHandler):  # type: ignore[misc]
    """connexion's bearer handler with the same cached signature check."""

    @staticmethod
    def _accepts_kwarg(func: Callable[..., Any], keyword: str) -> bool:
        return _accepts(func, keyword)


def security_map(settings: Settings) -> dict[str, type]:
    """connexion ``security_map`` for ``settings``: keys enforced (signature checks cached), or local mode."""
    if not settings.local_mode:
        return {"apiKey": _ApiKeyHandler, "bearer": _BearerHandler, "basic": BasicSecurityHandler}
    return {"apiKey": _LocalApiKeyHandler, "bearer": _LocalBearerHandler, "basic": _LocalBasicHandler}
