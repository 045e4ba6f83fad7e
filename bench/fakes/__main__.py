"""Serve a fake upstream in this process until killed: `python -m bench.fakes anthropic|openai --port N`.

Prints the base URL (one line, flushed) once it is listening. Drive it with `RemoteFake(url)` or the `/_fake/*`
endpoints. Uses uvloop when it is installed.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from bench.fakes.anthropic_wire import AnthropicFake
from bench.fakes.behavior import Behavior, Text
from bench.fakes.openai_wire import OpenAIFake
from bench.fakes.server import FakeServer, LoopFactory


def _loop_factory() -> LoopFactory:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        return asyncio.new_event_loop
    return uvloop.new_event_loop


def build(argv: Sequence[str] | None = None) -> FakeServer:
    parser = argparse.ArgumentParser(prog="python -m bench.fakes", description=__doc__)
    parser.add_argument("wire", choices=["anthropic", "openai"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 = OS-assigned (default)")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="delay before the first response byte")
    parser.add_argument("--event-delay-ms", type=float, default=0.0, help="delay between SSE events")
    parser.add_argument("--text", default=None, help="reply text (default: 'Hello from <name>')")
    parser.add_argument("--chunks", type=int, default=2, help="text deltas per streamed reply")
    parser.add_argument("--name", default=None)
    parser.add_argument("--no-validate", action="store_true", help="accept bodies missing required fields")
    parser.add_argument("--no-record", action="store_true", help="keep no request log (long benchmarks)")
    args = parser.parse_args(argv)
    name = args.name or f"{args.wire}-fake"
    default = Behavior(
        latency_s=args.latency_ms / 1000,
        event_delay_s=args.event_delay_ms / 1000,
        content=(Text(args.text if args.text is not None else f"Hello from {name}", chunks=args.chunks),),
    )
    cls = AnthropicFake if args.wire == "anthropic" else OpenAIFake
    return cls(
        default,
        name=name,
        validate=not args.no_validate,
        record=not args.no_record,
        host=args.host,
        port=args.port,
        loop_factory=_loop_factory(),
    )


def main(argv: Sequence[str] | None = None) -> int:
    fake = build(argv)
    done = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    with fake:
        print(fake.url, flush=True)
        while not done.wait(1.0):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
