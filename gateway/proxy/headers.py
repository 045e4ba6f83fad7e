"""Header hygiene for the pass-through: what is forwarded upstream, and what comes back.

Request: everything the client sent except hop-by-hop headers (RFC 9110 §7.6.1, plus any header the client's
``Connection`` names), ``Host`` (the upstream's own is set from the configured URL, never from the request),
``Expect`` (the gateway already answered it), cookies unless the operation's host takes them, and any credential
that is one of the gateway's own API keys (a gateway key is never sent to Anthropic). The client's own
``Authorization`` / ``x-api-key`` go to the operation's configured upstream and nowhere else.

Response: everything the upstream sent, byte for byte, except hop-by-hop headers and ``Date`` (the server writes
its own; forwarding the upstream's would send two). The upstream's ``request-id`` is kept as ``upstream-request-id``
because the gateway's outermost middleware stamps every response with its own ``request-id``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"trailers",
        b"transfer-encoding",
        b"upgrade",
    }
)
REQUEST_DROPPED = HOP_BY_HOP | {b"host", b"expect"}
WEBSOCKET_HANDSHAKE = frozenset(
    {b"sec-websocket-key", b"sec-websocket-version", b"sec-websocket-extensions", b"sec-websocket-protocol"}
)
RESPONSE_DROPPED = HOP_BY_HOP | {b"date"}
CREDENTIAL_HEADERS = frozenset({b"authorization", b"x-api-key"})
COOKIE = b"cookie"
REQUEST_ID = b"request-id"
UPSTREAM_REQUEST_ID = b"upstream-request-id"

RawHeaders = list[tuple[bytes, bytes]]


def _connection_tokens(headers: Iterable[tuple[bytes, bytes]]) -> set[bytes]:
    tokens: set[bytes] = set()
    for name, value in headers:
        if name.lower() == b"connection":
            tokens |= {t.strip().lower() for t in value.split(b",") if t.strip()}
    return tokens


def _bearer(value: bytes) -> bytes | None:
    scheme, _, token = value.strip().partition(b" ")
    return token.strip() if scheme.lower() == b"bearer" and token.strip() else None


def upstream_request_headers(
    headers: Iterable[tuple[bytes, bytes]],
    *,
    forward_cookies: bool,
    is_gateway_key: Callable[[str], bool],
    websocket: bool = False,
) -> RawHeaders:
    """The headers to send upstream, from the ASGI ``scope["headers"]`` of the client's request."""
    items = list(headers)
    dropped = REQUEST_DROPPED | _connection_tokens(items)
    if websocket:
        dropped = dropped | WEBSOCKET_HANDSHAKE
    if not forward_cookies:
        dropped = dropped | {COOKIE}
    out: RawHeaders = []
    for name, value in items:
        lname = name.lower()
        if lname in dropped:
            continue
        if lname in CREDENTIAL_HEADERS and _is_gateway_credential(lname, value, is_gateway_key):
            continue
        out.append((name, value))
    return out


def _is_gateway_credential(name: bytes, value: bytes, is_gateway_key: Callable[[str], bool]) -> bool:
    token = _bearer(value) if name == b"authorization" else value.strip()
    if not token:
        return False
    try:
        return is_gateway_key(token.decode("latin-1"))
    except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes every byte
        return False


def client_response_headers(raw: Iterable[tuple[bytes, bytes]]) -> RawHeaders:
    """The upstream's response headers as the client gets them (duplicates such as Set-Cookie kept, in order)."""
    items = list(raw)
    dropped = RESPONSE_DROPPED | _connection_tokens(items)
    out: RawHeaders = []
    for name, value in items:
        lname = name.lower()
        if lname in dropped:
            continue
        if lname == REQUEST_ID:
            out.append((UPSTREAM_REQUEST_ID, value))
            continue
        out.append((lname, value))
    return out
