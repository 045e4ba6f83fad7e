"""Fake model upstreams that are real HTTP servers on 127.0.0.1, for the gateway's tests and benchmarks.

    with AnthropicFake() as fake:                     # or: async with AnthropicFake() as fake:
        fake.script(Behavior(status=429, retry_after=1), Behavior(content=[Thinking("hm"), Text("hi")]))
        client = anthropic.Anthropic(base_url=fake.url, api_key="k")
        ...
        assert fake.requests[0].json["model"] == "claude-x"

`AnthropicFake` speaks the Messages API (`/v1/messages`, also under `/anthropic`); `OpenAIFake` speaks chat
completions (`/v1/chat/completions`). Each request to an inference route consumes the next scripted `Behavior`, or
uses `fake.default`. A separate process: `python -m bench.fakes anthropic --port 0`, driven with `RemoteFake(url)`.
"""

from bench.fakes.anthropic_wire import AnthropicFake
from bench.fakes.behavior import DEFAULT_SIGNATURE, Behavior, Block, Script, ServerBlock, Text, Thinking, ToolUse
from bench.fakes.openai_wire import OpenAIFake
from bench.fakes.recording import RecordedRequest
from bench.fakes.remote import RemoteFake
from bench.fakes.server import FakeServer

__all__ = [
    "DEFAULT_SIGNATURE",
    "AnthropicFake",
    "Behavior",
    "Block",
    "FakeServer",
    "OpenAIFake",
    "RecordedRequest",
    "RemoteFake",
    "Script",
    "ServerBlock",
    "Text",
    "Thinking",
    "ToolUse",
]
