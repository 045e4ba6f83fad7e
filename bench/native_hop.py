"""Native inference hop: what the gateway's Anthropic-wire fast path adds over calling the upstream directly, and
the same workload through the LiteLLM proxy, side by side in one run (issue 3, **Benchmark**).

    .venv/bin/python bench/native_hop.py            # full run, about 5 minutes
    .venv/bin/python bench/native_hop.py --quick    # a small version, under a minute
    .venv/bin/python bench/native_hop.py --quick --no-litellm --workers 2   # the gateway with two workers

Separate processes on 127.0.0.1: the Anthropic-wire fake (``python -m bench.fakes anthropic``), the gateway
(``litellm-gateway serve``: one key, ``anthropic/*`` to the fake) and the LiteLLM proxy (``litellm --config``:
``anthropic/<model>`` at the fake). The load generator (aiohttp) runs in this process. On 2+ CPUs the gateway and
the proxy are pinned to the first CPU, the fake and this process to the second (as in tech-spike.md §(f)).

``--workers N`` passes ``--workers N`` to ``serve`` (a supervisor forking N workers on one socket); the gateway's
CPU, RSS and fds are then summed over the supervisor and its workers. Pinning cannot give N > 1 workers a CPU each
on a 2-core machine without sharing the one the fake and load generator use, so ``--gateway-cpus`` says where the
gateway goes: ``first`` (the first CPU only; the default with one worker) or ``all`` (every CPU, the fake and the load
generator staying on the second; the default with more than one worker, so the second worker can only use what the
fake and the load generator leave of it). Compare 1 and N workers with the same ``--gateway-cpus``.
Measured per round, targets interleaved, medians over rounds: latency at concurrency 1 and 64 (added = target -
direct in the same round), requests/s and CPU per request (/proc utime+stime) at concurrency 64, streaming time
to first and last byte, and once per target: N slow SSE streams held open at once, RSS (/proc VmRSS).

The LiteLLM proxy lives in its own venv, ``.bench-venv`` (``python3 bench/litellm_venv.py`` creates it); without
it the LiteLLM column is skipped with a note. Nothing leaves the machine: every process listens on 127.0.0.1 and
LiteLLM runs with LITELLM_LOCAL_MODEL_COST_MAP=True and LITELLM_OFFLINE_MODE=true.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import hop_load
from bench import hop_procs as procs
from bench.fakes import Behavior, RemoteFake, Text
from bench.hop_load import (
    MODEL,
    Target,
    closed_loop,
    first_request,
    hold_streams,
    quiesce,
    request_body,
    stream_latency,
)
from bench.hop_profile import py_spy, record, summarise
from bench.hop_report import (
    TITLES,
    TargetResults,
    capacity_table,
    errors_lines,
    latency_table,
    noise_line,
    process_split_line,
    samples_line,
    targets_table,
)

GATEWAY_KEY = "sk-bench-gateway-0001"
LITELLM_KEY = "sk-bench-litellm-0001"
FAKE_KEY = "sk-fake-upstream"
# streaming latency: 20 text deltas, 5 ms apart (as in peers.md §8)
STREAM_CHUNKS = 20
STREAM_EVENT_DELAY_MS = 5.0


@dataclass(frozen=True)
class Plan:
    rounds: int
    c1_s: float
    c64_s: float
    warmup_s: float
    stream_n: int
    streams: int
    hold_s: float
    hold_delay_s: float
    ramp_s: float
    open_timeout_s: float
    hold_direct: bool
    slow_warmup_s: float  # LiteLLM at concurrency 64: ~1 s per request, so a longer warm-up and window
    slow_c64_s: float

    first_warmup_s: float  # per target before anything is measured (LiteLLM gets 3x)


FULL = Plan(
    rounds=3,
    c1_s=3.0,
    c64_s=4.0,
    warmup_s=1.0,
    stream_n=30,
    streams=1000,
    hold_s=20.0,
    hold_delay_s=1.0,
    ramp_s=5.0,
    open_timeout_s=20.0,
    hold_direct=True,
    slow_warmup_s=3.0,
    slow_c64_s=6.0,
    first_warmup_s=1.0,
)
QUICK = Plan(
    rounds=1,
    c1_s=1.0,
    c64_s=1.0,
    warmup_s=0.5,
    stream_n=6,
    streams=200,
    hold_s=3.0,
    hold_delay_s=0.5,
    ramp_s=1.0,
    open_timeout_s=5.0,
    hold_direct=False,
    slow_warmup_s=1.5,
    slow_c64_s=2.0,
    first_warmup_s=0.5,
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a small version (1 round, 200 streams), < 60 s")
    parser.add_argument("--rounds", type=int, help="rounds of the latency/throughput phases (default 3; quick 1)")
    parser.add_argument("--streams", type=int, help="SSE streams held at once (default 1000; quick 200)")
    parser.add_argument("--hold-seconds", type=float, help="how long the streams are held (default 20; quick 3)")
    parser.add_argument("--no-litellm", action="store_true", help="skip the LiteLLM proxy column")
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to CPUs")
    parser.add_argument(
        "--workers", type=int, default=1, help="gateway worker processes (`serve --workers N`; default 1)"
    )
    parser.add_argument(
        "--gateway-cpus",
        choices=("first", "all"),
        help="the gateway on the first CPU only, or on all CPUs (default: first with one worker, all with more)",
    )
    parser.add_argument(
        "--profile", metavar="DIR", type=Path, help="also profile the gateway with py-spy at concurrency 64 into DIR"
    )
    parser.add_argument("--profile-seconds", type=float, default=15.0)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (configs, logs)")
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    if args.profile and args.workers > 1:
        parser.error("--profile samples one process: use it with --workers 1")
    if args.gateway_cpus is None:
        args.gateway_cpus = "first" if args.workers == 1 else "all"
    return args


def plan_for(args: argparse.Namespace) -> Plan:
    plan = QUICK if args.quick else FULL
    changes = {
        "rounds": args.rounds or plan.rounds,
        "streams": args.streams or plan.streams,
        "hold_s": args.hold_seconds or plan.hold_s,
    }
    return Plan(**{**plan.__dict__, **changes})


def pinning(pinned: tuple[int, int] | None, gateway_cpus: tuple[int, ...] | None, litellm: bool) -> str:
    if pinned is None:
        return "none"
    where = ",".join(str(c) for c in gateway_cpus) if gateway_cpus else "?"
    text = f"gateway on CPU {where}"
    if litellm:
        text += f", LiteLLM proxy on CPU {pinned[0]}"
    text += f", fake and load generator on CPU {pinned[1]}"
    if gateway_cpus and pinned[1] in gateway_cpus:
        text += " (the gateway shares that CPU with them)"
    return text


def header(
    args: argparse.Namespace,
    plan: Plan,
    pin: str,
    litellm: str | None,
    started: str,
    source: str,
) -> list[str]:
    command = ".venv/bin/python bench/native_hop.py" + "".join(f" {shlex.quote(a)}" for a in sys.argv[1:])
    workers = (
        "1 worker (`serve`)"
        if args.workers == 1
        else f"{args.workers} workers (`serve --workers {args.workers}`: a supervisor and {args.workers} forked "
        "workers on one socket; CPU, RSS and fds summed over all of them)"
    )
    lines = [
        "# Native hop benchmark: gateway fast path vs direct vs LiteLLM proxy",
        "",
        f"Reproduce: `{command}` (LiteLLM column: `{procs.LITELLM_SETUP}` first)",
        "",
        f"- started {started}, {os.cpu_count()} CPUs, {procs.interpreter()}, pinning: {pin}",
        f"- gateway source: {source}; {workers}",
        f"- LiteLLM proxy: {litellm or 'skipped'}",
        f"- request: {len(request_body(False))} B Messages body, model `{MODEL}`; reply ~320 B JSON; streamed reply: "
        f"{STREAM_CHUNKS} text deltas {STREAM_EVENT_DELAY_MS:g} ms apart (26 events)",
        f"- rounds: {plan.rounds} (targets interleaved in each round; medians over rounds); concurrency 1 for "
        f"{plan.c1_s:g} s, concurrency 64 for {plan.c64_s:g} s after {plan.warmup_s:g} s warm-up, "
        f"{plan.stream_n} streams per round",
        f"- held streams: {plan.streams} at once, events {plan.hold_delay_s:g} s apart, held {plan.hold_s:g} s; "
        "a stream counts if it is still receiving events at the end",
    ]
    return lines


async def _measure(
    targets: dict[str, Target],
    results: dict[str, TargetResults],
    plan: Plan,
    fake: RemoteFake,
    log: list[str],
    profile: tuple[Path, float] | None,
    profile_lines: list[str],
) -> None:
    profile_dir, profile_s = profile if profile else (None, 0.0)
    body, streamed = request_body(False), request_body(True)
    for name, target in targets.items():  # warm-up: connections, lazy imports, first streaming call
        results[name].first_request_s = await first_request(target, body)
        await closed_loop(target, body, 8, 0.0, plan.first_warmup_s * (3 if name == "litellm" else 1))
        await stream_latency(target, streamed, 0, 3)
        if target.pid:
            results[name].rss_idle_mb = procs.rss_mb(target.pid)
    servers = [t.pid for name, t in targets.items() if name != "direct"]
    for concurrency in (1, 64):
        for r in range(plan.rounds):
            for name, target in targets.items():
                if concurrency == 1:
                    results[name].c1.append(await closed_loop(target, body, 1, 0.3, plan.c1_s))
                else:
                    results[name].c64.append(await closed_loop(target, body, 64, *_c64_window(plan, target)))
                await quiesce(target.pid if name != "direct" else None)
            _progress(f"concurrency {concurrency}, round {r + 1}/{plan.rounds} done")
    for r in range(plan.rounds):
        for name, target in targets.items():
            results[name].stream.append(await stream_latency(target, streamed, plan.stream_n, 1))
        _progress(f"streaming, round {r + 1}/{plan.rounds} done")
    if profile_dir is not None:  # before the held streams: nothing else busy on the servers' CPU
        for pid in servers:
            await quiesce(pid)
        _progress(f"profiling the gateway for 2 x {profile_s:g} s")
        profile_lines[:] = await _profile(targets["gateway"], profile_dir, profile_s)
    # held streams: a slow, long stream from the fake
    slow = Behavior(event_delay_s=plan.hold_delay_s, content=(Text("lorem ipsum " * 400, chunks=2000),))
    fake.default = slow
    try:
        for name, target in targets.items():
            if name == "direct" and not plan.hold_direct:
                continue
            results[name].hold = await hold_streams(
                target,
                streamed,
                plan.streams,
                ramp_s=plan.ramp_s,
                hold_s=plan.hold_s,
                event_delay_s=plan.hold_delay_s,
                open_timeout_s=plan.open_timeout_s,
            )
            _progress(f"held streams: {name} done")
            await asyncio.sleep(1.0)  # let the cancelled streams close before the next target
            await quiesce(target.pid if name != "direct" else None)
    finally:
        fake.default = Behavior(
            event_delay_s=STREAM_EVENT_DELAY_MS / 1000, content=(Text("Hello from anthropic-fake", chunks=20),)
        )
    log.append(f"load average after the run: {procs.load_average()}")


def _c64_window(plan: Plan, target: Target) -> tuple[float, float]:
    if target.name == "litellm":
        return plan.slow_warmup_s, plan.slow_c64_s
    return plan.warmup_s, plan.c64_s


async def _profile(target: Target, out_dir: Path, seconds: float) -> list[str]:
    raw, svg = out_dir / "gateway-c64.txt", out_dir / "gateway-c64.svg"
    lines = []
    for path, fmt in ((raw, "raw"), (svg, "flamegraph")):
        spy = record(target.pid or 0, seconds, path, fmt)
        run = await closed_loop(target, request_body(False), 64, 0.5, seconds + 1.0)
        _, err = await asyncio.to_thread(spy.communicate)
        if spy.returncode:
            return [f"py-spy failed: {err.decode(errors='replace').strip()}"]
        other = f"{run.background_cpus:.2f}" if run.background_cpus is not None else "?"
        lines.append(
            f"- {fmt}: `{path}` (`py-spy record --rate 100`, {seconds:g} s; {run.rps:.0f} req/s while sampled; "
            f"other processes: {other} CPUs)"
        )
    return [*lines, "", *summarise(raw)]


def _progress(message: str) -> None:
    print(f"  … {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started_at = time.strftime("%Y-%m-%d %H:%M:%S")
    source = procs.source_state()  # the gateway process loads this tree at start-up
    plan = plan_for(args)
    fd_limit = procs.raise_fd_limit(max(8192, plan.streams * 4 + 1024))
    cpus = sorted(os.sched_getaffinity(0))
    pinned = (cpus[0], cpus[1]) if len(cpus) >= 2 and not args.no_pin else None
    server_cpu, client_cpu = pinned if pinned else (None, None)
    gateway_cpus: tuple[int, ...] | None = None
    if pinned:
        gateway_cpus = (pinned[0],) if args.gateway_cpus == "first" else tuple(cpus)
    use_litellm = not args.no_litellm and procs.LITELLM_BIN.exists()
    litellm_note = None
    if not args.no_litellm and not use_litellm:
        litellm_note = f"no LiteLLM proxy at {procs.LITELLM_BIN}: column skipped; create it: {procs.LITELLM_SETUP}"
    if args.profile and py_spy() is None:
        print("--profile needs py-spy: .venv/bin/pip install py-spy", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="native-hop-"))
    started: list[procs.Proc] = []
    results: dict[str, TargetResults] = {}
    log = [f"load average before the run: {procs.load_average()}", f"fd limit: {fd_limit}"]
    profile_lines: list[str] = []
    litellm_desc = None
    try:
        _progress(f"starting processes (logs in {workdir})")
        fake = procs.start_fake(workdir, client_cpu, event_delay_ms=STREAM_EVENT_DELAY_MS, chunks=STREAM_CHUNKS)
        started.append(fake)
        procs.read_fake_url(fake)
        gateway = procs.start_gateway(workdir, gateway_cpus, fake.url, GATEWAY_KEY, args.workers)
        started.append(gateway)
        litellm = procs.start_litellm(workdir, server_cpu, fake.url, MODEL, LITELLM_KEY) if use_litellm else None
        if litellm:
            started.append(litellm)
        gateway.wait_ready("/healthcheck", 90)
        procs.wait_workers(gateway, args.workers, 90)
        if litellm:
            litellm.wait_ready("/health/liveliness", 240)
            version = procs.litellm_version(procs.BENCH_VENV / "bin" / "python")
            litellm_desc = f"litellm {version}, 1 worker (`litellm --config … --num_workers 1`), default settings"
        others = procs.busy_processes({p.pid for p in started})
        if others:
            log.append("other busy processes at start: " + ", ".join(others))
        targets = {"direct": Target("direct", fake.url, _headers(FAKE_KEY), fake.pid)}
        targets["gateway"] = Target("gateway", gateway.url, _headers(GATEWAY_KEY), gateway.pid)
        if litellm:
            targets["litellm"] = Target("litellm", litellm.url, _headers(LITELLM_KEY), litellm.pid)
        for name, target in targets.items():
            proc = next(p for p in started if p.pid == target.pid)
            results[name] = TargetResults(name, rss_start_mb=procs.rss_mb(proc.pid), ready_s=proc.ready_s)
        procs.pin_self(client_cpu)
        hop_load.OURS[:] = [*(p.pid for p in started), os.getpid()]
        remote = RemoteFake(fake.url)
        runner = asyncio.Runner(loop_factory=_loop_factory())
        try:
            if args.profile:
                args.profile.mkdir(parents=True, exist_ok=True)
            profile = (args.profile, args.profile_seconds) if args.profile else None
            runner.run(_measure(targets, results, plan, remote, log, profile, profile_lines))
        finally:
            runner.close()
            remote.close()
    except RuntimeError as exc:  # a process did not start: say which, with its log tail
        print(f"native_hop: {exc}", file=sys.stderr)
        return 1
    finally:
        for proc in reversed(started):
            proc.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    pin = pinning(pinned, gateway_cpus, use_litellm)
    report = header(args, plan, pin, litellm_desc, started_at, source)
    report += [f"- {line}" for line in log]
    if litellm_note:
        report.append(f"- **note:** {litellm_note}")
    report += ["", "## Latency (ms)", "", *latency_table(results), "", samples_line(results), "", noise_line(results)]
    each = "one process each" if args.workers == 1 else f"the gateway: supervisor + {args.workers} workers, summed"
    report += ["", f"## Throughput, CPU, streams, memory ({each})", "", *capacity_table(results)]
    split = process_split_line(results)
    if split:
        report += ["", split]
    report += ["", "## Targets", "", *targets_table(results, args.workers)]
    errors = errors_lines(results)
    if errors:
        report += ["", "## Failed requests", "", *errors]
    if not args.profile and any("**missed**" in line for line in targets_table(results, args.workers)):
        report += ["", "Targets missed: rerun with `--profile DIR` (needs `.venv/bin/pip install py-spy`) to see where"]
        report += ["the gateway's time goes."]
    if profile_lines:
        report += ["", f"## Profile: {TITLES['gateway']} at concurrency 64 (py-spy)", "", *profile_lines]
    print("\n".join(report))
    return 0


def _headers(key: str) -> dict[str, str]:
    return {"x-api-key": key, "anthropic-version": "2023-06-01", "content-type": "application/json"}


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop
    return uvloop.new_event_loop


if __name__ == "__main__":
    sys.exit(main())
