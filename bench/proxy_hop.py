"""What the pass-through hop costs: latency through the gateway vs calling the same fake upstream directly.

Not a test. One run starts a fake Anthropic host (aiohttp, its own process) and a real gateway (``litellm-gateway
serve``, its own process) in pass-through mode in front of it, then sends the same requests alternately to each
(interleaved, so drift on a shared machine hits both sides alike) over keep-alive connections, and prints p50/p90/p99
per path, the added latency (gateway - direct) and the ratios.

    .venv/bin/python bench/proxy_hop.py [--requests 2000] [--warmup 200]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[1]
GATEWAY_BIN = Path(sys.executable).parent / "litellm-gateway"
PROFILE = b'{"account":{"uuid":"4b8e2c1a","email":"dev@example.com"},"organization":{"uuid":"9c1d2e3f"}}'
BODY_64K = b'{"events":[' + b",".join([b'{"event_type":"x","event_data":{"n":1}}'] * 1500) + b"]}"
SSE_EVENTS = 20


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_fake(port: int) -> None:
    """The fake upstream (run in a child process): a small JSON GET, a 64 KiB POST, and a short SSE stream."""
    from aiohttp import web

    async def profile(_request: web.Request) -> web.Response:
        return web.Response(body=PROFILE, content_type="application/json")

    async def batch(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=b'{"status":"ok"}', content_type="application/json")

    async def sse(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        for i in range(SSE_EVENTS):
            await response.write(b'event: ping\ndata: {"n":%d}\n\n' % i)
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/api/oauth/profile", profile)
    app.router.add_post("/api/event_logging/v2/batch", batch)
    app.router.add_post("/api/oauth/claude_cli/create_api_key", batch)
    app.router.add_get("/api/oauth/usage", sse)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


def wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{url}: process exited with {process.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not start")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(client: httpx.Client, method: str, url: str, body: bytes | None) -> float:
    started = time.perf_counter()
    with client.stream(method, url, content=body) as response:
        for _ in response.iter_raw():
            pass
    if response.status_code != 200:
        raise SystemExit(f"{method} {url} -> {response.status_code}")
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="measured requests per side and path")
    parser.add_argument("--warmup", type=int, default=200)
    args = parser.parse_args()

    fake_port, gateway_port = free_port(), free_port()
    fake_url, gateway_url = f"http://127.0.0.1:{fake_port}", f"http://127.0.0.1:{gateway_port}"
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "bench.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "gateway": {"host": "127.0.0.1", "port": gateway_port, "log_level": "warning"},
                    "passthrough": {"mode": "passthrough", "upstreams": {"api": fake_url}},
                }
            )
        )
        fake = subprocess.Popen([sys.executable, __file__, "--serve-fake", str(fake_port)], env=env)
        gateway = subprocess.Popen(
            [str(GATEWAY_BIN), "serve", "--config", str(config)], env=env, cwd=ROOT, stderr=subprocess.DEVNULL
        )
        try:
            wait_ready(fake_url + "/api/oauth/profile", fake)
            wait_ready(gateway_url + "/healthcheck", gateway)
            run(args, fake_url, gateway_url)
        finally:
            for process in (gateway, fake):
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()


def run(args: argparse.Namespace, fake_url: str, gateway_url: str) -> None:
    cases = [
        ("GET /api/oauth/profile (90 B JSON)", "GET", "/api/oauth/profile", None),
        ("POST /api/event_logging/v2/batch (64 KiB, validated)", "POST", "/api/event_logging/v2/batch", BODY_64K),
        (
            "POST /api/oauth/claude_cli/create_api_key (64 KiB)",
            "POST",
            "/api/oauth/claude_cli/create_api_key",
            BODY_64K,
        ),
        (f"GET /api/oauth/usage (SSE, {SSE_EVENTS} events)", "GET", "/api/oauth/usage", None),
    ]
    headers = {"content-type": "application/json", "authorization": "Bearer sk-ant-oat01-bench"}
    print(f"proxy hop, {args.requests} requests per side and path (after {args.warmup} warm-up), interleaved, ms")
    print(
        f"{'path':<52} {'direct p50':>10} {'p99':>7} {'gateway p50':>12} {'p99':>7} "
        f"{'added p50':>10} {'p99':>7} {'ratio p50':>10} {'p99':>6}"
    )
    with httpx.Client(headers=headers, timeout=30) as direct, httpx.Client(headers=headers, timeout=30) as proxied:
        for label, method, path, body in cases:
            for _ in range(args.warmup):
                measure(direct, method, fake_url + path, body)
                measure(proxied, method, gateway_url + path, body)
            d: list[float] = []
            g: list[float] = []
            for _ in range(args.requests):
                d.append(measure(direct, method, fake_url + path, body))
                g.append(measure(proxied, method, gateway_url + path, body))
            d50, d99, g50, g99 = percentile(d, 0.5), percentile(d, 0.99), percentile(g, 0.5), percentile(g, 0.99)
            print(
                f"{label:<52} {d50:>10.3f} {d99:>7.3f} {g50:>12.3f} {g99:>7.3f} "
                f"{g50 - d50:>10.3f} {g99 - d99:>7.3f} {g50 / d50:>10.2f} {g99 / d99:>6.2f}"
            )
            print(f"{'':<52} (mean direct {statistics.fmean(d):.3f}, gateway {statistics.fmean(g):.3f})")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--serve-fake":
        serve_fake(int(sys.argv[2]))
    else:
        main()
