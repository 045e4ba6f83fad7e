"""Local token counts with real tokenizers (the files litellm ships, read by `tokenizers` / `tiktoken`), measured
against Anthropic's published (legacy) Claude tokenizer on CJK, code and English fixtures; translated streams get
their counted input in `message_start`."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tokenizers import Tokenizer

from bench.fakes import AnthropicFake, OpenAIFake
from bench.fakes.sse import parse_sse
from gateway.upstream.tokens import count_input_tokens, counter, estimate, tokenizer_dir
from tests.native.conftest import KEY, running_gateway

FIXTURES = Path(__file__).parent / "fixtures"
NAMES = ("zh", "ja", "code", "en")


def _text(name: str) -> str:
    return (FIXTURES / f"{name}.txt").read_text(encoding="utf-8")


def _relative_error(count: int, reference: int) -> float:
    return (count - reference) / reference


def test_measured_error_against_claudes_tokenizer() -> None:
    """The figures of docs/development/notes/issue-13-native-fidelity.md (printed with -s)."""
    claude, deepseek, o200k = counter("claude"), counter("deepseek"), counter("o200k")
    errors: dict[str, dict[str, float]] = {}
    for name in NAMES:
        text = _text(name)
        reference = claude(text)
        errors[name] = {
            "deepseek": _relative_error(deepseek(text), reference),
            "o200k": _relative_error(o200k(text), reference),
            "chars/3.5": _relative_error(math.ceil(len(text) / 3.5), reference),
        }
        print(name, len(text), "chars,", reference, "claude tokens,", {k: f"{v:+.0%}" for k, v in errors[name].items()})
    for name in ("zh", "ja"):  # the old heuristic undercounted CJK by about two thirds; the tokenizers far less
        assert errors[name]["chars/3.5"] < -0.6
        assert abs(errors[name]["deepseek"]) < 0.45 and abs(errors[name]["o200k"]) < 0.35
    for name in ("code", "en"):
        assert abs(errors[name]["deepseek"]) < 0.05 and abs(errors[name]["o200k"]) < 0.1


def test_the_slim_installs_estimate_against_the_tokenizers() -> None:
    """The figures of gateway.upstream.tokens.estimate's doc (a slim install's count, printed with -s)."""
    claude, deepseek = counter("claude"), counter("deepseek")
    for name in NAMES:
        text = _text(name)
        guess = estimate(text)
        ours, theirs = _relative_error(guess, deepseek(text)), _relative_error(guess, claude(text))
        print(name, guess, "estimated,", f"{ours:+.0%} vs deepseek, {theirs:+.0%} vs claude")
        if name in ("code", "en"):
            assert abs(ours) <= 0.05 and abs(theirs) <= 0.05
        else:  # CJK: above DeepSeek's count, below Claude's, far nearer than chars / 3.5 (-60% and more)
            assert 0 < ours < 0.45 and -0.25 < theirs < 0


def _deepseek_config(fake: AnthropicFake) -> dict[str, Any]:
    params = {"model": "deepseek/deepseek-v4-pro", "api_base": f"{fake.url}/anthropic", "api_key": "sk-ds"}
    return {"model_list": [{"model_name": "ds", "litellm_params": params}], "routing": {"default": "ds"}}


@pytest.mark.parametrize("name", ["zh", "ja"])
def test_count_tokens_for_deepseek_uses_deepseeks_tokenizer(fake: AnthropicFake, name: str) -> None:
    text = _text(name)
    body = {"model": "claude-haiku-5-5", "messages": [{"role": "user", "content": text}]}
    with running_gateway(_deepseek_config(fake)) as url:
        r = httpx.post(f"{url}/v1/messages/count_tokens", json=body, headers={"x-api-key": KEY})
    assert r.status_code == 200, r.text
    own = Tokenizer.from_file(str(tokenizer_dir() / "deepseek_tokenizer.json"))
    expected = len(own.encode(text, add_special_tokens=False).ids) + 4  # + the message framing
    assert r.json() == {"input_tokens": expected}
    assert r.headers["x-gateway-token-count"] == "local; tokenizer=deepseek"
    assert expected > 1.8 * (math.ceil(len(text) / 3.5) + 4)  # what the chars / 3.5 estimate said
    assert fake.requests == []  # counted locally, not sent


def test_count_covers_system_tools_tool_results_and_media() -> None:
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "A" * 100_000}}
    body = {
        "system": [{"type": "text", "text": "Be brief."}],
        "tools": [{"name": "Bash", "input_schema": {"type": "object"}}],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "look"}, image]},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "Bash", "input": {"c": "ls"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "README.md"}]},
        ],
    }
    counted = count_input_tokens(body, "o200k")
    assert 1600 < counted < 1700  # the image counts 1,600, not its 100 KB of base64


@pytest.fixture
def openai_fake() -> Iterator[OpenAIFake]:
    with OpenAIFake() as server:
        yield server


def test_translated_stream_message_start_carries_the_counted_input(openai_fake: OpenAIFake) -> None:
    params = {"model": "openai/gpt-fake", "api_base": f"{openai_fake.url}/v1", "api_key": "sk-oa"}
    config = {"model_list": [{"model_name": "oa", "litellm_params": params}], "routing": {"default": "oa"}}
    body = {
        "model": "claude-sonnet-5-5",
        "max_tokens": 32,
        "stream": True,
        "messages": [{"role": "user", "content": _text("zh")}],
    }
    with running_gateway(config) as url:
        r = httpx.post(f"{url}/v1/messages", json=body, headers={"x-api-key": KEY}, timeout=60)
    assert r.status_code == 200, r.text
    frames = parse_sse(r.content)
    start = next(f.json() for f in frames if f.event == "message_start")
    assert start["message"]["usage"]["input_tokens"] == count_input_tokens(body, "o200k") > 100
