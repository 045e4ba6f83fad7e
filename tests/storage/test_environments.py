"""Environments through the official SDK (strict response validation) on SQLite and PostgreSQL: archive vs delete."""

from __future__ import annotations

import anthropic
import pytest

from tests.storage.conftest import KEY_B, http, pages_of, sdk


def test_environment_lifecycle(gateway: str) -> None:
    client = sdk(gateway)
    env = client.beta.environments.create(
        name="python-sandbox",
        description="for data work",
        config={
            "type": "cloud",
            "networking": {"type": "limited", "allowed_hosts": ["pypi.org"]},
            "packages": {"pip": ["pandas"]},
        },
        metadata={"team": "a"},
    )
    assert env.id.startswith("env_") and env.type == "environment" and env.archived_at is None
    assert env.config.type == "cloud"
    assert env.config.networking.type == "limited" and env.config.networking.allowed_hosts == ["pypi.org"]
    assert env.config.networking.allow_mcp_servers is False
    assert env.config.packages.pip == ["pandas"] and env.config.packages.apt == []
    assert client.beta.environments.retrieve(env.id).model_dump() == env.model_dump()

    default = client.beta.environments.create(name="defaults")
    assert default.config.type == "cloud" and default.config.networking.type == "unrestricted"
    hosted = client.beta.environments.create(name="mine", config={"type": "self_hosted"}, scope="account")
    assert hosted.config.type == "self_hosted" and hosted.scope == "account"

    updated = client.beta.environments.update(env.id, name="py", metadata={"team": None, "x": "1"}, description=None)
    assert updated.name == "py" and updated.metadata == {"x": "1"} and updated.description is None
    assert updated.config.networking.type == "limited"  # omitted config is preserved
    assert updated.updated_at >= env.updated_at

    more = [client.beta.environments.create(name=f"e{i}") for i in range(3)]
    pages = pages_of(client.beta.environments.list(limit=2))
    assert [len(p) for p in pages] == [2, 2, 2]
    assert [e.id for p in pages for e in p] == [e.id for e in reversed([env, default, hosted, *more])]

    archived = client.beta.environments.archive(env.id)
    assert archived.archived_at is not None
    with pytest.raises(anthropic.BadRequestError):
        client.beta.environments.update(env.id, name="again")
    listed = {e.id for p in pages_of(client.beta.environments.list(limit=2)) for e in p}
    assert env.id not in listed and len(listed) == 5
    assert env.id in {e.id for p in pages_of(client.beta.environments.list(include_archived=True)) for e in p}
    assert client.beta.environments.retrieve(env.id).archived_at is not None

    deleted = client.beta.environments.delete(env.id)
    assert deleted.id == env.id and deleted.type == "environment_deleted"
    with pytest.raises(anthropic.NotFoundError):
        client.beta.environments.retrieve(env.id)
    with pytest.raises(anthropic.NotFoundError):
        client.beta.environments.delete(env.id)
    assert env.id not in {e.id for p in pages_of(client.beta.environments.list(include_archived=True)) for e in p}


def test_environment_tenant_isolation(gateway: str) -> None:
    alice, bob = sdk(gateway), sdk(gateway, KEY_B)
    env = alice.beta.environments.create(name="private")
    for call in (
        lambda: bob.beta.environments.retrieve(env.id),
        lambda: bob.beta.environments.update(env.id, name="mine"),
        lambda: bob.beta.environments.archive(env.id),
        lambda: bob.beta.environments.delete(env.id),
    ):
        with pytest.raises(anthropic.NotFoundError):
            call()
    assert list(bob.beta.environments.list(include_archived=True).data) == []
    bob_env = bob.beta.environments.create(name="bobs")
    assert [e.id for e in alice.beta.environments.list().data] == [env.id]
    assert [e.id for e in bob.beta.environments.list().data] == [bob_env.id]
    assert alice.beta.environments.retrieve(env.id).name == "private"


def test_unpaired_surrogate_escape_is_a_400_not_a_500(gateway: str) -> None:
    """``"\\ud800"`` is valid JSON but not Unicode: neither the schema validator nor PostgreSQL can take it."""
    client = http(gateway)
    raw = b'{"name": "x", "scope": "\\ud800"}'
    response = client.post("/v1/environments", content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    assert "unpaired UTF-16 surrogate" in response.json()["error"]["message"]
    paired = b'{"name": "smile \\ud83d\\ude00"}'
    response = client.post("/v1/environments", content=paired, headers={"content-type": "application/json"})
    assert response.status_code == 200 and response.json()["name"] == "smile \U0001f600"
