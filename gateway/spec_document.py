"""``GET /openapi.json`` and ``/openapi.yaml``: the contract as written, with its ``$ref``s kept.

connexion serves these from its resolved specification: every ``$ref`` inlined (13 MB of JSON for this contract)
and re-serialised on each request (1.6-2.1 s). Here the document is the parsed spec file itself (a few hundred KB of
shared components instead of copies), serialised once on the first request (the YAML is the spec file's own bytes),
and sent gzip-compressed to clients that accept it. The Swagger UI at ``/ui/`` and schemathesis resolve the
references themselves."""

from __future__ import annotations

import gzip
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

JSON_PATH = "/openapi.json"
YAML_PATH = "/openapi.yaml"


class _Rendering:
    """One rendering of the document: its bytes and their gzip form, built once."""

    def __init__(self, body: bytes, media_type: str) -> None:
        self.body, self.media_type = body, media_type
        self.gzipped = gzip.compress(body, compresslevel=6, mtime=0)


class SpecDocumentMiddleware:
    """Answers GET/HEAD of :data:`JSON_PATH` (from ``doc``) and :data:`YAML_PATH` (the file ``doc`` was parsed
    from); everything else goes to ``app``."""

    def __init__(self, app: ASGIApp, doc: Mapping[str, Any], spec_path: Path) -> None:
        self.app, self.doc, self.spec_path = app, doc, spec_path
        self._rendered: dict[str, _Rendering] = {}

    def _rendering(self, path: str) -> _Rendering:
        rendering = self._rendered.get(path)
        if rendering is None:
            if path == JSON_PATH:
                # YAML timestamps (if any) are written as ISO strings, like connexion's own jsonifier did
                body = orjson.dumps(self.doc, default=str)
                rendering = _Rendering(body, "application/json")
            else:
                rendering = _Rendering(self.spec_path.read_bytes(), "text/yaml")
            self._rendered[path] = rendering
        return rendering

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path")
        if scope["type"] != "http" or path not in (JSON_PATH, YAML_PATH) or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        rendering = self._rendering(str(path))
        accepts = Headers(scope=scope).get("accept-encoding", "")
        compressed = "gzip" in {part.split(";")[0].strip().lower() for part in accepts.split(",")}
        body = rendering.gzipped if compressed else rendering.body
        headers = [
            (b"content-type", rendering.media_type.encode("ascii")),
            (b"content-length", str(len(body)).encode("ascii")),
            (b"vary", b"accept-encoding"),
            (b"cache-control", b"no-cache"),
        ]
        if compressed:
            headers.append((b"content-encoding", b"gzip"))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})
