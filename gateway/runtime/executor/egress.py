"""The egress proxy a ``limited`` sandbox reaches the network through.

The sandbox has no network interface but its own loopback. Inside it, :data:`FORWARDER` (run with the sandbox's
``python3``) listens on ``127.0.0.1:3128`` and carries each connection over a Unix socket bound into the sandbox to
this proxy, which runs in the gateway: it reads one HTTP request head (``CONNECT host:port`` for TLS, or a plain
request in absolute form), refuses hosts not in the environment's ``allowed_hosts`` (403) and addresses that are
loopback, private, link-local, multicast or reserved unless ``runtime.egress_allowed_networks`` lists them (403; the
name is resolved here, so DNS inside the sandbox is never needed), then connects and pipes bytes both ways. The
sandbox's ``HTTP_PROXY``/``HTTPS_PROXY`` point at the forwarder, so ordinary clients (curl, pip, urllib) use it."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import socket
from collections.abc import Callable, Sequence
from pathlib import Path
from urllib.parse import urlsplit

logger = logging.getLogger("gateway.runtime.egress")

PORT = 3128
HEAD_LIMIT = 65536
CONNECT_TIMEOUT_S = 10.0
#: every host (``unrestricted`` without the host's network): only the address guard applies
ANY_HOST = "*"

FORWARDER = """
import os, socket, threading
path = os.environ.pop("GW_EGRESS_SOCKET")
server = socket.socket(); server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", PORT)); server.listen(64)
def pipe(a, b):
    try:
        while True:
            data = a.recv(65536)
            if not data: break
            b.sendall(data)
    except OSError: pass
    finally:
        for s in (a, b):
            try: s.shutdown(socket.SHUT_RDWR)
            except OSError: pass
def serve(client):
    upstream = socket.socket(socket.AF_UNIX)
    try: upstream.connect(path)
    except OSError: client.close(); return
    threading.Thread(target=pipe, args=(client, upstream), daemon=True).start()
    pipe(upstream, client)
while True:
    threading.Thread(target=serve, args=(server.accept()[0],), daemon=True).start()
""".replace("PORT", str(PORT))


def host_allowed(host: str, allowed: Sequence[str]) -> bool:
    """Exact names (case-insensitive), ``*.example.com`` for subdomains, ``*`` for any host."""
    host = host.lower().rstrip(".")
    for entry in allowed:
        entry = entry.lower().rstrip(".")
        if entry == ANY_HOST or entry == host or (entry.startswith("*.") and host.endswith(entry[1:])):
            return True
    return False


def address_allowed(address: str, networks: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    ip = ipaddress.ip_address(address)
    if any(ip in net for net in networks):
        return True
    return ip.is_global and not ip.is_multicast


class Denied(Exception):
    pass


class EgressProxy:
    """One Unix-socket listener per session; ``allowed`` is read per connection (the environment may change)."""

    def __init__(self, path: Path, allowed: Callable[[], Sequence[str]], networks: Sequence[str]) -> None:
        self.path, self.allowed = path, allowed
        self.networks = [ipaddress.ip_network(n) for n in networks]
        self.server: asyncio.AbstractServer | None = None

    async def start(self, owner: tuple[int, int] | None) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.unlink(missing_ok=True)
        self.server = await asyncio.start_unix_server(self._serve, path=str(self.path), limit=HEAD_LIMIT)
        if owner is not None:
            os.chown(self.path, *owner)
        os.chmod(self.path, 0o600)

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(Exception):
                await self.server.wait_closed()
        self.path.unlink(missing_ok=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=CONNECT_TIMEOUT_S)
            await self._forward(head, reader, writer)
        except Denied as denied:
            await _reply(writer, 403, str(denied))
        except (OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as error:
            await _reply(writer, 502, f"egress proxy: {type(error).__name__}")
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _forward(self, head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        line, _, rest = head.partition(b"\r\n")
        method, target, version = line.decode("latin-1").split(" ", 2)
        if method.upper() == "CONNECT":
            host, _, port_text = target.rpartition(":")
            port, forward = int(port_text), b""
        else:
            url = urlsplit(target)
            if url.scheme != "http" or not url.hostname:
                raise Denied("only CONNECT and absolute http:// requests go through this proxy")
            host, port = url.hostname, url.port or 80
            path = (url.path or "/") + (f"?{url.query}" if url.query else "")
            headers = [h for h in rest.split(b"\r\n") if not h.lower().startswith(b"proxy-")]
            forward = f"{method} {path} {version}\r\n".encode("latin-1") + b"\r\n".join(headers)
        host = host.strip("[]")
        if not host_allowed(host, self.allowed()):
            logger.info("egress: %s refused (not in allowed_hosts)", host)
            raise Denied(f"{host} is not in the environment's allowed_hosts")
        address = await self._resolve(host, port)
        upstream_reader, upstream_writer = await asyncio.wait_for(
            asyncio.open_connection(address, port), timeout=CONNECT_TIMEOUT_S
        )
        if forward:
            upstream_writer.write(forward)
        else:
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))

    async def _resolve(self, host: str, port: int) -> str:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        for info in infos:
            address = str(info[4][0])
            if address_allowed(address, self.networks):
                return address
        raise Denied(f"{host} resolves to an address the sandbox may not reach (loopback, private or link-local)")


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            if writer.can_write_eof():
                writer.write_eof()


async def _reply(writer: asyncio.StreamWriter, status: int, text: str) -> None:
    reason = {403: "Forbidden", 502: "Bad Gateway"}[status]
    body = text.encode() + b"\n"
    head = f"HTTP/1.1 {status} {reason}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    with contextlib.suppress(Exception):
        writer.write(head.encode() + body)
        await writer.drain()
