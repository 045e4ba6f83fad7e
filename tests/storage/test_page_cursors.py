"""The contract is not stricter than the API: ``page`` has no pattern in the spec (the SDK's generated tests send
strings like ``"page"``); the handler answers 400 for a cursor it cannot decode and 404 for another list's."""

from __future__ import annotations

from codegen.spec import SPEC, load_yaml, operations
from tests.storage.conftest import http


def test_no_page_parameter_carries_a_pattern() -> None:
    with_page = 0
    for _method, _path, op in operations(load_yaml(SPEC)).values():
        if op.get("x-implementation") != "custom":
            continue
        pages = [p for p in op.get("parameters", []) if isinstance(p, dict) and p.get("name") == "page"]
        # a cursor is a string; LiteLLM's /key/list numbers its pages (an integer the contract checks itself)
        pages = [p for p in pages if p.get("schema", {}).get("type") != "integer"]
        for parameter in pages:
            assert "pattern" not in parameter.get("schema", {}), op["operationId"]
        if pages and not op.get("x-planned"):  # a planned operation answers 501 whatever its page
            with_page += 1
            assert "cursor" in op.get("x-semantic-validation", ""), op["operationId"]  # its 400 is documented
    assert with_page >= 20


def test_undecodable_cursors_are_a_400_from_the_handler(gateway: str) -> None:
    with http(gateway) as client:
        client.post("/v1/agents", json={"model": "claude-haiku-4-5", "name": "one"}).raise_for_status()
        first = client.get("/v1/agents", params={"limit": 1}).json()
        for value in ("page", "page_!!!", "page_bm90IGpzb24"):  # not a cursor / not base64 / base64 of non-JSON
            bad = client.get("/v1/agents", params={"page": value})
            assert bad.status_code == 400, (value, bad.text)
            assert bad.json()["error"]["type"] == "invalid_request_error"
            assert "not a page cursor" in bad.json()["error"]["message"]
        other_list = client.get("/v1/environments", params={"page": first["next_page"] or "page_e30"})
        assert other_list.status_code == 404  # decodable, but not this list's: names no page
