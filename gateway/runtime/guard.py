"""The address rule for connections the gateway makes for a session (MCP servers, repository clones): no loopback,
private, link-local, multicast or reserved address unless ``runtime.egress_allowed_networks`` lists it (the same
rule as the sandbox's egress proxy, :func:`gateway.runtime.executor.egress.address_allowed`)."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Sequence
from urllib.parse import urlsplit

from gateway.runtime.executor.egress import address_allowed

Networks = Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network]


async def address_refusal(url: str, networks: Networks) -> str | None:
    """Why the gateway will not connect to this URL's addresses, or None (the name is resolved here; an answer that
    changes before the connection is made is not caught)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{url} is not an http(s) URL"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(parts.hostname, port)
    except OSError as error:
        return f"could not resolve {parts.hostname} ({error.strerror or error})"
    for info in infos:
        address = str(info[4][0])
        if not address_allowed(address, networks):
            return (
                f"{url} resolves to {address}, a loopback, private or link-local address the gateway does not "
                "connect to unless runtime.egress_allowed_networks lists it"
            )
    return None
