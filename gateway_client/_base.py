"""Hand-written transport for the generated client stubs (gateway_client/_generated.py)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx


class BaseClient:
    def __init__(self, base_url: str = "http://localhost:4000", api_key: str | None = None, **kwargs: Any) -> None:
        headers = {"x-api-key": api_key} if api_key else {}
        self.http = httpx.AsyncClient(base_url=base_url, headers=headers, **kwargs)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> BaseClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _request(
        self,
        method: str,
        template: str,
        *,
        path: dict[str, Any],
        query: dict[str, Any],
        headers: dict[str, Any],
        json: dict[str, Any] | None = None,
        files: dict[str, Any] | None = None,
    ) -> httpx.Response:
        url = template.format(**{k: quote(str(v), safe="") for k, v in path.items()})
        params = {k: v for k, v in query.items() if v is not None}
        sent_headers = {k: str(v) for k, v in headers.items() if v is not None}
        return await self.http.request(method, url, params=params, headers=sent_headers, json=json, files=files)
