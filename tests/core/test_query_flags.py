"""``?beta=`` (a boolean query parameter on every operation): true/false pass the fast check, anything else is a 400
naming the parameter."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.settings import Settings


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(create_app(Settings())) as c:
        yield c


@pytest.mark.parametrize("value", ["true", "false", "True", "FALSE"])
def test_a_boolean_beta_flag_is_accepted(client: TestClient, value: str) -> None:
    assert client.get(f"/v1/models?beta={value}").status_code == 200


@pytest.mark.parametrize("value", ["maybe", "", "1", "0", "[]"])
def test_anything_else_is_a_400_naming_the_parameter(client: TestClient, value: str) -> None:
    response = client.get(f"/v1/models?beta={value}")
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("invalid query parameter 'beta'")
