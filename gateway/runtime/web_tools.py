"""``web_fetch`` and ``web_search`` of the agent toolset, answered by the gateway (server tools on every environment).

``web_fetch {url}``: the gateway fetches the page itself, never the sandbox. Each hop (up to
:data:`MAX_REDIRECTS` redirects) is checked before any connection is made:

* the scheme is ``http`` or ``https``;
* the host passes the environment's ``config.networking`` (``limited``: its ``allowed_hosts``, with the egress
  proxy's matching rules; ``unrestricted``, and ``self_hosted`` environments, which have no networking config: any
  host) and the tool config's ``allowed_domains`` / ``blocked_domains``;
* the name is resolved here and every address must be public (:func:`egress.address_allowed`: loopback, private,
  link-local, multicast and reserved addresses are refused unless ``runtime.egress_allowed_networks`` lists them);
  the connection then goes to exactly those checked addresses (a pinned resolver), so a name that resolves
  differently a moment later (DNS rebinding) cannot reach the gateway's own loopback services.

At most ``runtime.web_fetch_max_bytes`` of the body are read; HTML is reduced to text (:mod:`html_text`), ``text/*``,
JSON and XML are kept as they are, anything else is refused; the text is cut at 4 * ``max_content_tokens``
characters (the tool config's, else ``runtime.max_output_bytes``) with a marker. Every failure is a tool error the
model reads.

``web_search {query}``: only a backend that offers a server search tool can answer it. When the group the agent's
model routes to consists of ``anthropic`` deployments, the gateway asks that model (one non-streaming request
through its own router, with Anthropic's ``web_search_20250305`` server tool and the tool config's domain lists)
and returns the ``web_search_tool_result`` entries as text; otherwise the model reads an error saying so."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from gateway.keys.service import KeysService
from gateway.runtime import html_text, metered, model
from gateway.runtime.executor.egress import address_allowed, host_allowed
from gateway.runtime.server_tools import Outcome, ServerCall, ServerTools

MAX_REDIRECTS = 5
SEARCH_TOOL = "web_search_20250305"
SEARCH_MAX_TOKENS = 1024
TEXT_TYPES = ("text/", "application/json", "application/xml", "application/xhtml+xml")
USER_AGENT = "litellm-gateway-web-fetch/1"


class Refused(Exception):
    """What the model reads as the tool's error."""


def tool_config(agent: Mapping[str, Any] | None, name: str) -> dict[str, Any]:
    """The agent toolset's config of tool ``name`` (its default config merged with the tool's own entry)."""
    for tool in (agent or {}).get("tools") or []:
        if isinstance(tool, Mapping) and tool.get("type") == "agent_toolset_20260401":
            configs = [c for c in tool.get("configs") or [] if isinstance(c, Mapping) and c.get("name") == name]
            return {**(tool.get("default_config") or {}), **(configs[0] if configs else {})}
    return {}


def _domains(config: Mapping[str, Any], key: str) -> list[str]:
    """A domain list entry covers the domain and its subdomains (``example.com`` → ``*.example.com`` too)."""
    out: list[str] = []
    for domain in config.get(key) or []:
        out += [str(domain), f"*.{str(domain).lstrip('*.')}"]
    return out


def check_host(host: str, environment: Mapping[str, Any] | None, config: Mapping[str, Any]) -> None:
    networking = ((environment or {}).get("config") or {}).get("networking") or {}
    if networking.get("type") == "limited":
        if not host_allowed(host, [str(h) for h in networking.get("allowed_hosts") or []]):
            raise Refused(f"{host} is not in the environment's allowed_hosts (config.networking)")
    if config.get("allowed_domains") and not host_allowed(host, _domains(config, "allowed_domains")):
        raise Refused(f"{host} is not in the web_fetch tool's allowed_domains")
    if host_allowed(host, _domains(config, "blocked_domains")):
        raise Refused(f"{host} is in the web_fetch tool's blocked_domains")


@dataclass(frozen=True)
class _Pinned(AbstractResolver):
    """Resolves the one host of a hop to the addresses already checked, nothing else."""

    host: str
    results: tuple[ResolveResult, ...]

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if host != self.host:
            raise OSError(f"{host} was not checked")
        return [{**r, "port": port} for r in self.results]

    async def close(self) -> None:
        return None


class WebFetch:
    def __init__(self, networks: Sequence[str], max_bytes: int, max_chars: int, timeout_s: float) -> None:
        self.networks = [ipaddress.ip_network(n) for n in networks]
        self.max_bytes, self.max_chars, self.timeout_s = max_bytes, max_chars, timeout_s

    async def __call__(self, call: ServerCall) -> Outcome:
        url = call.input.get("url")
        if not isinstance(url, str) or not url.strip():
            return Outcome.text("web_fetch: url is required", is_error=True)
        config = tool_config(call.session.doc.get("agent"), "web_fetch")
        environment = call.environment.doc if call.environment is not None else None
        try:
            async with asyncio.timeout(self.timeout_s):
                final, content_type, body, cut = await self._fetch(url.strip(), environment, config)
            text = _decode(body, content_type)
        except Refused as refused:
            return Outcome.text(f"web_fetch: {refused}", is_error=True)
        except TimeoutError:
            return Outcome.text(f"web_fetch: {url}: no answer within {self.timeout_s:g}s", is_error=True)
        except ValueError as error:  # a malformed URL (bad port, bracket, …)
            return Outcome.text(f"web_fetch: {url}: not a valid URL ({error})", is_error=True)
        except (aiohttp.ClientError, OSError) as error:
            return Outcome.text(f"web_fetch: {url}: {type(error).__name__}: {error}", is_error=True)
        limit = config.get("max_content_tokens")
        max_chars = int(limit) * 4 if isinstance(limit, int) and limit > 0 else self.max_chars
        notes = []
        if cut:
            notes.append(f"[the page is larger than {self.max_bytes} bytes; only its start was read]")
        if len(text) > max_chars:
            notes.append(f"[content truncated: {len(text) - max_chars} more characters]")
            text = text[:max_chars]
        head = f"URL: {final}\nContent-Type: {content_type or 'unknown'}\n\n"
        return Outcome.text(head + text + ("\n" + "\n".join(notes) if notes else ""))

    async def _fetch(
        self, url: str, environment: Mapping[str, Any] | None, config: Mapping[str, Any]
    ) -> tuple[str, str, bytes, bool]:
        for _hop in range(MAX_REDIRECTS + 1):
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise Refused(f"{url}: only http:// and https:// URLs can be fetched")
            host = parts.hostname
            check_host(host, environment, config)
            port = parts.port or (443 if parts.scheme == "https" else 80)
            resolver = _Pinned(host, await self._resolve(host, port))
            connector = aiohttp.TCPConnector(resolver=resolver, use_dns_cache=False, force_close=True)
            async with (
                aiohttp.ClientSession(connector=connector, trust_env=False) as session,
                session.get(url, allow_redirects=False, headers={"user-agent": USER_AGENT}) as response,
            ):
                location = response.headers.get("location")
                if response.status in (301, 302, 303, 307, 308) and location:
                    url = urljoin(url, location)
                    continue
                if response.status >= 400:
                    raise Refused(f"{url} answered HTTP {response.status} {response.reason or ''}".rstrip())
                body = bytearray()
                while len(body) <= self.max_bytes and (chunk := await response.content.read(self.max_bytes + 1)):
                    body += chunk
                content_type = response.headers.get("content-type", "")
                return url, content_type, bytes(body[: self.max_bytes]), len(body) > self.max_bytes
        raise Refused(f"{url}: more than {MAX_REDIRECTS} redirects")

    async def _resolve(self, host: str, port: int) -> tuple[ResolveResult, ...]:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as error:
            raise Refused(f"{host}: the name does not resolve ({error.strerror})") from None
        checked: list[ResolveResult] = []
        for family, _type, proto, _name, address in infos:
            ip = str(address[0]).split("%", 1)[0]  # an IPv6 scope (``%eth0``) is not part of the address
            if not address_allowed(ip, self.networks):
                raise Refused(
                    f"{host} resolves to {ip}, an address the gateway does not fetch from (loopback, private, "
                    "link-local or reserved; runtime.egress_allowed_networks can allow it)"
                )
            checked.append({"hostname": host, "host": ip, "port": port, "family": family, "proto": proto, "flags": 0})
        if not checked:
            raise Refused(f"{host}: the name does not resolve")
        return tuple(checked)


def _decode(body: bytes, content_type: str) -> str:
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind and not kind.startswith(TEXT_TYPES) and not kind.endswith(("+json", "+xml")):
        raise Refused(f"the page is {kind}, which web_fetch does not read (text, HTML, JSON and XML only)")
    charset = "utf-8"
    for part in content_type.split(";")[1:]:
        name, _, value = part.strip().partition("=")
        if name.lower() == "charset" and value:
            charset = value.strip("\"'")
    try:
        text = body.decode(charset, errors="replace")
    except LookupError:
        text = body.decode("utf-8", errors="replace")
    if kind in ("text/html", "application/xhtml+xml") or (not kind and "<html" in text[:1000].lower()):
        return html_text.to_text(text)
    return text


class WebSearch:
    """Through the routed backend's own server search tool, when it has one."""

    def __init__(self, native: model.Native, keys: Callable[[], KeysService | None] = lambda: None) -> None:
        self.native, self.keys = native, keys

    def _backend_searches(self, model_id: str) -> str | None:
        """None when the model's group can search; otherwise why not."""
        router = getattr(self.native, "router", None)
        if router is None:
            return "this gateway has no router to ask"
        try:
            decision = router.decide({"model": model_id})
        except Exception as error:  # no route: the same answer the model request itself would get
            return str(error)
        own = [d for d in decision.candidates if d.group == decision.group]
        kinds = sorted({d.kind for d in own if d.kind != "anthropic"})
        if not own or kinds:
            return (
                f"the model group {decision.group!r} is served by {', '.join(kinds) or 'no'} deployments, which "
                "offer no server web search tool (only anthropic deployments do)"
            )
        return None

    async def __call__(self, call: ServerCall) -> Outcome:
        query = call.input.get("query")
        if not isinstance(query, str) or not query.strip():
            return Outcome.text("web_search: query is required", is_error=True)
        agent = call.session.doc.get("agent") or {}
        model_id = str((agent.get("model") or {}).get("id") or "")
        why_not = self._backend_searches(model_id)
        if why_not is not None:
            return Outcome.text(f"web_search is not available: {why_not}", is_error=True)
        config = tool_config(agent, "web_search")
        tool: dict[str, Any] = {"type": SEARCH_TOOL, "name": "web_search", "max_uses": 1}
        for key in ("allowed_domains", "blocked_domains", "user_location"):
            if config.get(key):
                tool[key] = config[key]
        body = {
            "model": model_id,
            "max_tokens": SEARCH_MAX_TOKENS,
            "stream": False,
            "tools": [tool],
            "messages": [{"role": "user", "content": f"Search the web for: {query.strip()}"}],
        }
        try:
            # metered against the session's key like its turns' model requests (gateway.runtime.metered)
            request_id = f"{call.session.id}/{call.event.get('id')}"
            native = metered.for_session(self.keys(), self.native, call.session.doc, request_id)
            result = await model.request(native, body, _NoSink())
        except model.ModelFailure as failure:
            message = f"web_search failed: {failure.status} {failure.error_type}: {failure.message}"
            return Outcome.text(message, is_error=True)
        return _search_outcome(result.content)


def _search_outcome(content: Sequence[Mapping[str, Any]]) -> Outcome:
    lines: list[str] = []
    for block in content:
        if block.get("type") != "web_search_tool_result":
            continue
        found = block.get("content")
        if isinstance(found, Mapping):  # web_search_tool_result_error
            return Outcome.text(f"web_search failed: {found.get('error_code') or 'unknown error'}", is_error=True)
        for entry in found or []:
            if isinstance(entry, Mapping) and entry.get("type") == "web_search_result":
                age = f" ({entry['page_age']})" if entry.get("page_age") else ""
                lines.append(f"- {entry.get('title') or entry.get('url')}{age}\n  {entry.get('url')}")
    if not lines:
        return Outcome.text("web_search: the backend returned no search results", is_error=True)
    summary = "".join(str(b.get("text", "")) for b in content if b.get("type") == "text").strip()
    return Outcome.text("\n".join(lines) + (f"\n\n{summary}" if summary else ""))


class _NoSink:
    def block_start(self, index: int, kind: str) -> None:
        return None

    def text(self, index: int, piece: str) -> None:
        return None


def register(registry: ServerTools, fetch: WebFetch, search: WebSearch) -> None:
    """Both run on every environment (server tools upstream: the worker has no implementation of them)."""
    registry.register("web_fetch", fetch, cloud_only=False)
    registry.register("web_search", search, cloud_only=False)
