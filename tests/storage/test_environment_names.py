"""Environment names are unique in a workspace (Anthropic documents a duplicate as 409), on SQLite and PostgreSQL."""

from __future__ import annotations

import anthropic
import pytest

from tests.storage.conftest import KEY_B, sdk


def test_a_second_environment_with_an_existing_name_is_a_409(gateway: str) -> None:
    client = sdk(gateway)
    first = client.beta.environments.create(name="shared-name")
    with pytest.raises(anthropic.ConflictError) as info:
        client.beta.environments.create(name="shared-name")
    assert info.value.status_code == 409 and first.id in str(info.value)
    other = client.beta.environments.create(name="other")
    with pytest.raises(anthropic.ConflictError):
        client.beta.environments.update(other.id, name="shared-name")  # renaming onto a taken name too
    assert client.beta.environments.update(first.id, name="shared-name").name == "shared-name"  # its own name
    assert sdk(gateway, KEY_B).beta.environments.create(name="shared-name").name == "shared-name"  # other workspace
    client.beta.environments.archive(first.id)
    assert client.beta.environments.create(name="shared-name").id != first.id  # archived names are free again
