"""Issue 17, point 10: references resolve in the caller's workspace. An agent's custom ``skills[]`` entry must name a
skill (and version) of the caller's own workspace, a session's ``user_profile_id`` a user profile of it: 404 otherwise,
and nothing is created."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest

from tests.hostile.conftest import KEY_A, KEY_B, Gateway
from tests.storage.test_skills import skill_files


def sdk(gateway: Gateway, key: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gateway.url, api_key=key, max_retries=0)


@pytest.fixture(scope="module")
def alice_skill(keyed_gateway: Gateway) -> Any:
    return sdk(keyed_gateway, KEY_A).beta.skills.create(files=skill_files(), display_name="alice's")


def agent_with(client: anthropic.Anthropic, skill: dict[str, Any]) -> Any:
    return client.beta.agents.create(name="refs", model="claude-sonnet-4-6", skills=[skill])  # type: ignore[list-item]


def agent_names(client: anthropic.Anthropic) -> list[str]:
    return [a.name for a in client.beta.agents.list(limit=100).data]


@pytest.mark.parametrize(
    "skill",
    [
        {"type": "custom", "skill_id": "ALICE"},  # another workspace's skill
        {"type": "custom", "skill_id": "skill_0123456789abcdefghijklmn"},  # no such skill anywhere
    ],
    ids=["other-workspace", "nonexistent"],
)
def test_an_agent_cannot_reference_a_skill_outside_its_workspace(
    keyed_gateway: Gateway, alice_skill: Any, skill: dict[str, Any]
) -> None:
    bob = sdk(keyed_gateway, KEY_B)
    before = len(agent_names(bob))
    ref = {**skill, "skill_id": alice_skill.id if skill["skill_id"] == "ALICE" else skill["skill_id"]}
    with pytest.raises(anthropic.NotFoundError):
        agent_with(bob, ref)
    assert len(agent_names(bob)) == before


def test_a_skill_version_must_exist(keyed_gateway: Gateway, alice_skill: Any) -> None:
    alice = sdk(keyed_gateway, KEY_A)
    with pytest.raises(anthropic.NotFoundError):
        agent_with(alice, {"type": "custom", "skill_id": alice_skill.id, "version": "1"})


def test_own_and_anthropic_skills_are_accepted(keyed_gateway: Gateway, alice_skill: Any) -> None:
    alice = sdk(keyed_gateway, KEY_A)
    agent = agent_with(alice, {"type": "custom", "skill_id": alice_skill.id})
    assert agent.skills[0].skill_id == alice_skill.id and agent.skills[0].version == "latest"
    pinned = agent_with(alice, {"type": "custom", "skill_id": alice_skill.id, "version": alice_skill.latest_version})
    assert pinned.skills[0].version == alice_skill.latest_version
    assert agent_with(alice, {"type": "anthropic", "skill_id": "xlsx"}).skills[0].skill_id == "xlsx"


def test_an_update_cannot_add_a_foreign_skill(keyed_gateway: Gateway, alice_skill: Any) -> None:
    bob = sdk(keyed_gateway, KEY_B)
    agent = bob.beta.agents.create(name="upd", model="claude-sonnet-4-6")
    with pytest.raises(anthropic.NotFoundError):
        bob.beta.agents.update(agent.id, version=agent.version, skills=[{"type": "custom", "skill_id": alice_skill.id}])
    assert bob.beta.agents.retrieve(agent.id).version == agent.version


def test_a_session_user_profile_resolves_in_the_callers_workspace(keyed_gateway: Gateway) -> None:
    alice, bob = sdk(keyed_gateway, KEY_A), sdk(keyed_gateway, KEY_B)
    profile = alice.beta.user_profiles.create(name="alice's customer")
    agent = bob.beta.agents.create(name="s", model="claude-sonnet-4-6")
    env = bob.beta.environments.create(name="s")
    for foreign in (profile.id, "uprof_0123456789abcdefghijklmn"):
        with pytest.raises(anthropic.NotFoundError):
            bob.beta.sessions.create(agent=agent.id, environment_id=env.id, extra_body={"user_profile_id": foreign})
    own = bob.beta.user_profiles.create(name="bob's customer")
    session = bob.beta.sessions.create(agent=agent.id, environment_id=env.id, extra_body={"user_profile_id": own.id})
    assert session.id
