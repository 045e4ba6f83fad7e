"""The contract as served: `/openapi.json` and `/openapi.yaml` (references kept, compact, compressed), and the
Messages body validators compiled with the app."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import yaml
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.settings import DEFAULT_SPEC_PATH, Settings
from gateway.spec import load_spec
from tests.core.conftest import MINI_SPEC, mini_settings


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(create_app(Settings())) as c:
        yield c


def test_openapi_json_is_the_spec_file_with_its_references(client: TestClient) -> None:
    response = client.get("/openapi.json", headers={"accept-encoding": "identity"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert "content-encoding" not in response.headers
    doc = orjson.loads(response.content)
    # parsed afresh (not load_spec's cached object, which the app holds): building the app changed nothing in it
    with open(DEFAULT_SPEC_PATH, "rb") as fh:
        assert doc == orjson.loads(orjson.dumps(yaml.load(fh, yaml.CSafeLoader), default=str))
    assert b'"$ref":"#/components/schemas/' in response.content  # not inlined
    assert len(response.content) < 2 * 1024 * 1024, len(response.content)  # was 13.2 MB with every $ref inlined
    assert response.headers["request-id"].startswith("req_")


def test_openapi_json_is_gzipped_for_clients_that_accept_it(client: TestClient) -> None:
    plain = client.get("/openapi.json", headers={"accept-encoding": "identity"}).content
    raw = client.get("/openapi.json", headers={"accept-encoding": "br;q=1, gzip;q=0.8"})
    assert raw.headers["content-encoding"] == "gzip"
    assert raw.headers["vary"] == "accept-encoding"
    assert raw.content == plain  # the test client decodes; the size on the wire is the header's
    assert int(raw.headers["content-length"]) == len(gzip.compress(plain, compresslevel=6, mtime=0))
    assert int(raw.headers["content-length"]) < len(plain) / 5


def test_openapi_yaml_is_the_spec_file(client: TestClient) -> None:
    response = client.get("/openapi.yaml", headers={"accept-encoding": "identity"})
    assert response.status_code == 200
    assert response.content == DEFAULT_SPEC_PATH.read_bytes()
    assert yaml.safe_load(response.content)["openapi"].startswith("3.0")


def test_head_has_the_headers_and_no_body(client: TestClient) -> None:
    response = client.head("/openapi.json", headers={"accept-encoding": "identity"})
    assert response.status_code == 200
    assert response.content == b""
    assert int(response.headers["content-length"]) > 100_000


def test_other_methods_are_not_served_from_the_document(client: TestClient) -> None:
    response = client.post("/openapi.json", json={})
    assert response.status_code in (404, 405)
    assert response.json()["type"] == "error"


def test_the_messages_body_validators_are_compiled_with_the_app() -> None:
    from gateway import validation

    validation._COMPILED.clear()
    validation._BY_CONTENT.clear()
    create_app(Settings())
    # exactly native.messages.create and native.messages.count_tokens; the others compile on their first request
    assert len(validation._COMPILED) == 2
    schemas = [schema for schema, _ in validation._COMPILED.values()]
    assert all("messages" in schema["properties"] and "components" in schema for schema in schemas)


def test_a_spec_that_breaks_the_openapi_schema_is_refused_with_connexions_message(tmp_path: Path) -> None:
    from connexion.exceptions import InvalidSpecification

    broken = dict(load_spec(MINI_SPEC))
    broken["paths"] = {"/x": {"get": {"responses": "nope"}}}
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(broken))
    with pytest.raises(InvalidSpecification, match="nope"):
        create_app(mini_settings(spec_path=path))


def test_the_parsed_spec_is_cached_as_json_and_reads_back_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gateway import spec

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    source = tmp_path / "spec.yaml"
    source.write_bytes(MINI_SPEC.read_bytes())
    first = spec._parsed(source.read_bytes(), str(source))
    cached = list((tmp_path / "cache" / "litellm-gateway").glob("spec-*.json"))
    assert len(cached) == 1
    assert orjson.loads(cached[0].read_bytes()) == first == yaml.safe_load(MINI_SPEC.read_bytes())
    cached[0].write_bytes(orjson.dumps({**first, "x-read-from": "cache"}))  # proves the second read uses it
    assert spec._parsed(source.read_bytes(), str(source))["x-read-from"] == "cache"
    cached[0].write_bytes(b"{not json")  # a damaged cache is skipped, not fatal
    assert spec._parsed(source.read_bytes(), str(source)) == first


def test_a_spec_with_yaml_only_types_is_not_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway import spec

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    data = MINI_SPEC.read_bytes() + b"\nx-released: 2026-12-05\n"  # a YAML date: JSON would make it a string
    doc = spec._parsed(data, "inline")
    assert str(doc["x-released"]) == "2026-12-05" and not isinstance(doc["x-released"], str)
    assert not list((tmp_path / "cache").rglob("spec-*.json"))
