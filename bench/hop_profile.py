"""Profile the gateway under load with py-spy and summarise where its CPU time goes.

py-spy samples the running gateway process (``--pid``) while the benchmark drives it at concurrency 64; idle
samples (the event loop waiting in epoll) are left out by py-spy, so the shares are shares of busy CPU time.
The summary attributes each sample to a stage of the request path (see ``STAGES``) and lists the frames with the
most self time. Install it with ``.venv/bin/pip install py-spy``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from bench.hop_procs import PROJECT_BIN, ROOT

FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>.*?)(?::(?P<line>\d+))?\)$")


Match = Callable[[str, str, bool], bool]  # (function, file, is the innermost frame) -> belongs to the stage


def _files(*prefixes: str) -> Match:
    return lambda func, file, innermost: file.startswith(prefixes)


# Where a busy sample's time goes. Specific stages are looked for first, walking the stack from the innermost frame
# outwards (so aiohttp called by the gateway's handler counts as "upstream client"); only when none matches, the
# general stages (the layers every request passes through) are looked for the same way.
SPECIFIC: tuple[tuple[str, Match], ...] = (
    ("logging (uvicorn access log, the gateway's request log line)", _files("logging/")),
    ("inspect.signature on every request (connexion decorators, security)", _files("inspect.py")),
    (
        "header parameter validation (connexion, python-jsonschema)",
        lambda func, file, innermost: "ParameterValidator" in func or file.startswith(("jsonschema/", "referencing/")),
    ),
    (
        "body validation (jsonschema-rs)",
        lambda func, file, innermost: "RustJSONBodyValidator" in func or "jsonschema_rs" in file,
    ),
    ("upstream HTTP client (aiohttp, yarl, multidict)", _files("aiohttp/", "yarl/", "multidict/", "aiohappyeyeballs/")),
    (
        "route matching (starlette routers, one per connexion middleware)",
        lambda func, file, innermost: (
            func in ("Route.matches", "Mount.matches", "compile_path") or (innermost and func == "Router.app")
        ),
    ),
    (
        "gateway native path (handler and its request access, routing decision, hygiene, forwarding)",
        _files(
            "gateway/native",
            "gateway/routing",
            "gateway/upstream",
            "gateway/streaming",
            "gateway/services",
            "handlers/",
        ),
    ),
)
GENERAL: tuple[tuple[str, Match], ...] = (
    ("gateway Messages fast lane, its own code (gateway.fastlane)", _files("gateway/fastlane")),
    ("gateway ASGI middlewares (request id, body limit, accounting), auth", _files("gateway/")),
    (
        "connexion + starlette (middleware stack, security, decorators, wrappers)",
        _files("connexion/", "starlette/", "werkzeug/"),
    ),
    (
        "HTTP server and event loop (uvicorn, httptools, asyncio)",
        _files("uvicorn/", "httptools/", "asyncio/", "uvloop/"),
    ),
)


def py_spy() -> Path | None:
    local = PROJECT_BIN / "py-spy"
    if local.exists():
        return local
    found = shutil.which("py-spy")
    return Path(found) if found else None


def record(pid: int, seconds: float, out: Path, fmt: str = "raw", rate: int = 100) -> subprocess.Popen[bytes]:
    """Start ``py-spy record`` on ``pid`` for ``seconds`` (returns at once; wait on the Popen)."""
    exe = py_spy()
    if exe is None:
        raise RuntimeError("py-spy is not installed: .venv/bin/pip install py-spy")
    argv = [str(exe), "record", "--pid", str(pid), "--duration", str(max(1, round(seconds)))]
    argv += ["--rate", str(rate), "--format", fmt, "--output", str(out)]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _parse(path: Path) -> list[tuple[list[tuple[str, str]], int]]:
    stacks = []
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = []
        for frame in stack.split(";"):
            match = FRAME.match(frame)
            func, file = (match["func"], match["file"]) if match else (frame, "")
            frames.append((func, file))
        stacks.append((frames, int(count)))
    return stacks


def _short(file: str) -> str:
    for marker in ("site-packages/", "/lib/python3.11/"):
        if marker in file:
            return file.split(marker, 1)[1]
    root = str(ROOT) + "/"
    return file[len(root) :] if file.startswith(root) else file


def stage_of(frames: list[tuple[str, str]]) -> str:
    for stages in (SPECIFIC, GENERAL):
        for depth, (func, file) in enumerate(reversed(frames)):
            for name, matches in stages:
                if matches(func, file, depth == 0):
                    return name
    return "other"


def summarise(path: Path, top: int = 20) -> list[str]:
    """Markdown lines: busy samples, share of busy time per stage, top frames by self time (event-loop thread)."""
    stacks = _parse(path)
    main = [(frames, count) for frames, count in stacks if frames and frames[0][0] == "<module>"]
    others: Counter[str] = Counter()
    for frames, count in stacks:
        if not frames or frames[0][0] != "<module>":
            others[f"{frames[-1][0]} ({_short(frames[-1][1])})" if frames else "?"] += count
    total = sum(count for _frames, count in main)
    if not total:
        return ["(no samples)"]
    by_stage: Counter[str] = Counter()
    by_self: Counter[str] = Counter()
    for frames, count in main:
        by_stage[stage_of(frames)] += count
        func, file = frames[-1]
        by_self[f"{func} ({_short(file)})"] += count
    out = [f"{total} busy samples of the event-loop thread (idle time excluded)."]
    if others:
        listed = ", ".join(f"`{name}` {count}" for name, count in others.most_common(3))
        out.append(f"Left out: {sum(others.values())} samples of other threads ({listed}).")
    out += ["", "Busy time by stage (bench/hop_profile.py: specific stages first, innermost frame first):", ""]
    out += ["| stage | share |", "|---|---|"]
    out += [f"| {name} | {count / total:.1%} |" for name, count in by_stage.most_common()]
    out += ["", f"Top {top} frames by self time:", "", "| frame | self |", "|---|---|"]
    out += [f"| `{name}` | {count / total:.1%} |" for name, count in by_self.most_common(top)]
    return out
