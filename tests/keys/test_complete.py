"""``POST /v1/complete`` is metered like ``POST /v1/messages``: the virtual key's model list is checked first and the
translated call's usage is recorded as its spend (a real gateway process, the Anthropic-wire fake)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anthropic
import pytest

from bench.fakes import AnthropicFake, Behavior
from tests.keys.conftest import MODEL, config, gateways, generate, sdk
from tests.keys.test_spend import PRICES, spend_rows


def test_completion_is_metered_against_the_key(tmp_path: Path, sqlite: dict[str, Any], fake: AnthropicFake) -> None:
    fake.script(Behavior(input_tokens=40))
    with gateways(config(tmp_path, sqlite, fake.url, litellm_params=PRICES)) as [url]:
        made = generate(url, key_alias="legacy", models=[MODEL])
        body = {"model": MODEL, "prompt": "\n\nHuman: hi\n\nAssistant:", "max_tokens_to_sample": 16}
        answer: Any = sdk(url, made["key"]).post("/v1/complete", cast_to=object, body=body)
        rows = spend_rows(url, 1, api_key=made["token"])
        refused = generate(url, key_alias="other-model", models=["claude-other-1"])
        with pytest.raises(anthropic.APIStatusError) as info:
            sdk(url, refused["key"]).post("/v1/complete", cast_to=object, body=body)
    assert answer["type"] == "completion" and answer["completion"]
    assert len(rows) == 1 and rows[0]["prompt_tokens"] == 40 and rows[0]["key_alias"] == "legacy"
    assert rows[0]["spend"] == pytest.approx(40 * 0.001 + rows[0]["completion_tokens"] * 0.002)
    assert info.value.status_code == 403 and len(fake.requests) == 1  # its model list refuses, before any upstream call
