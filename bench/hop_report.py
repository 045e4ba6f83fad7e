"""Statistics and the markdown report of ``bench/native_hop.py``.

Every latency figure is the median over rounds of a per-round percentile; "added" is computed per round as target
minus direct (both measured in that round, interleaved) and then the median is taken.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from bench.hop_load import HoldRun, LoadRun, StreamRun

NAMES = ("direct", "gateway", "litellm")
TITLES = {"direct": "direct (fake)", "gateway": "gateway", "litellm": "LiteLLM proxy"}
# Fast-path targets of issue 3
TARGET_ADDED_P50_MS = 0.5
TARGET_ADDED_P99_MS = 1.5
TARGET_RPS = 3000.0
TARGET_STREAMS = 1000


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile, ``q`` in [0, 100]; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None and v == v]
    return statistics.median(present) if present else None


@dataclass
class TargetResults:
    name: str
    c1: list[LoadRun] = field(default_factory=list)
    c64: list[LoadRun] = field(default_factory=list)
    stream: list[StreamRun] = field(default_factory=list)
    hold: HoldRun | None = None
    rss_start_mb: float | None = None
    rss_idle_mb: float | None = None
    ready_s: float | None = None
    first_request_s: float | None = None

    def errors(self) -> int:
        return sum(r.errors for r in (*self.c1, *self.c64)) + sum(r.errors for r in self.stream)

    def first_error(self) -> str | None:
        errors = [r.first_error for r in (*self.c1, *self.c64)] + [r.first_error for r in self.stream]
        return next((e for e in errors if e), None)


Metric = Callable[[TargetResults], list[float | None]]  # one value per round


def _lat(kind: str, q: float) -> Metric:
    def per_round(t: TargetResults) -> list[float | None]:
        runs: list[LoadRun] = t.c1 if kind == "c1" else t.c64
        return [percentile(r.latencies, q) * 1000 if r.latencies else None for r in runs]

    return per_round


def _stream(kind: str, q: float) -> Metric:
    def per_round(t: TargetResults) -> list[float | None]:
        return [percentile(getattr(r, kind), q) * 1000 if getattr(r, kind) else None for r in t.stream]

    return per_round


LATENCY_ROWS: tuple[tuple[str, Metric], ...] = (
    ("non-streaming, concurrency 1: p50", _lat("c1", 50)),
    ("non-streaming, concurrency 1: p99", _lat("c1", 99)),
    ("non-streaming, concurrency 64: p50", _lat("c64", 50)),
    ("non-streaming, concurrency 64: p99", _lat("c64", 99)),
    ("streaming, time to first byte: p50", _stream("ttfb", 50)),
    ("streaming, time to first byte: p90", _stream("ttfb", 90)),
    ("streaming, time to last byte: p50", _stream("ttlb", 50)),
    ("streaming, time to last byte: p90", _stream("ttlb", 90)),
)


def added(results: dict[str, TargetResults], name: str, metric: Metric) -> float | None:
    """Median over rounds of (target - direct) for ``metric``."""
    base, mine = metric(results["direct"]), metric(results[name])
    return median([m - b if m is not None and b is not None else None for m, b in zip(mine, base, strict=False)])


def _ms(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.2f}" if signed else f"{value:.2f}"


def _ratio(num: float | None, den: float | None) -> str:
    if num is None or den is None or den == 0:
        return "-"
    return f"{num / den:.3g}x"


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def latency_table(results: dict[str, TargetResults]) -> list[str]:
    names = [n for n in NAMES if n in results]
    has_l = "litellm" in results
    head = ["metric (ms)", *(TITLES[n] for n in names), "gateway added"]
    if has_l:
        head += ["LiteLLM added", "LiteLLM added ÷ gateway added"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for label, metric in LATENCY_ROWS:
        cells = [label, *(_ms(median(metric(results[n]))) for n in names)]
        gw = added(results, "gateway", metric)
        cells.append(_ms(gw, signed=True))
        if has_l:
            lt = added(results, "litellm", metric)
            cells += [_ms(lt, signed=True), _ratio(lt, gw) if gw and gw > 0 else "-"]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _c64(t: TargetResults, attr: str) -> float | None:
    return median([getattr(r, attr) for r in t.c64])


def _hold_cell(h: HoldRun | None) -> str:
    if h is None:
        return "-"
    cell = f"{h.alive} / {h.requested}"
    if h.errors:
        cell += " (" + ", ".join(f"{k}: {v}" for k, v in sorted(h.errors.items())) + ")"
    return cell


def capacity_table(results: dict[str, TargetResults]) -> list[str]:
    names = [n for n in NAMES if n in results]
    has_l = "litellm" in results
    head = ["metric", *(TITLES[n] for n in names), "gateway ÷ direct"]
    if has_l:
        head.append("gateway ÷ LiteLLM")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def row(label: str, values: dict[str, float | None], spec: str, ratios: bool = True) -> None:
        cells = [label, *(_fmt(values.get(n), spec) for n in names)]
        cells.append(_ratio(values.get("gateway"), values.get("direct")) if ratios else "-")
        if has_l:
            cells.append(_ratio(values.get("gateway"), values.get("litellm")) if ratios else "-")
        lines.append("| " + " | ".join(cells) + " |")

    row("requests/s, closed loop, concurrency 64", {n: _c64(results[n], "rps") for n in names}, ".0f")
    cpu = {n: _c64(results[n], "cpu_per_request_s") for n in names}
    row("CPU per request, concurrency 64 (µs; direct = the fake's)", _scale(cpu, 1e6), ".0f")
    cpu1 = {n: median([r.cpu_per_request_s for r in results[n].c1]) for n in names}
    row("CPU per request, concurrency 1 (µs)", _scale(cpu1, 1e6), ".0f")
    row(
        "process CPU busy during concurrency 64 (%)",
        _scale({n: _c64(results[n], "cpu_share") for n in names}, 100),
        ".0f",
    )
    row(
        f"whole machine busy during concurrency 64 (CPUs of {os.cpu_count()})",
        {n: _c64(results[n], "machine_cpus") for n in names},
        ".2f",
        ratios=False,
    )
    holds = {n: results[n].hold for n in names}
    n_streams = next((h.requested for h in holds.values() if h), 0)
    cells = [f"SSE streams still receiving after the hold (of {n_streams})", *(_hold_cell(holds[n]) for n in names)]
    cells += ["-"] * (len(head) - len(cells))
    lines.append("| " + " | ".join(cells) + " |")
    row(
        f"seconds until all {n_streams} streams had an event",
        {n: h.open_s if (h := holds[n]) else None for n in names},
        ".1f",
        ratios=False,
    )
    share = {n: h.cpu_share if (h := holds[n]) else None for n in names}
    row(f"process CPU busy holding {n_streams} streams (%)", _scale(share, 100), ".0f", ratios=False)
    row("RSS after start-up (MiB)", {n: results[n].rss_start_mb for n in names}, ".0f")
    row("RSS idle after warm-up (MiB)", {n: results[n].rss_idle_mb for n in names}, ".0f")
    row("RSS peak, concurrency 64 (MiB)", {n: _c64(results[n], "rss_peak_mb") for n in names}, ".0f")
    rss_hold = {n: h.rss_peak_mb if (h := holds[n]) else None for n in names}
    row(f"RSS peak holding {n_streams} streams (MiB)", rss_hold, ".0f")
    fds = {n: float(h.fds_peak) if (h := holds[n]) and h.fds_peak else None for n in names}
    row(f"open fds holding {n_streams} streams", fds, ".0f", ratios=False)
    row("start-up until ready (s)", {n: results[n].ready_s for n in names}, ".1f", ratios=False)
    first = {n: v * 1000 if (v := results[n].first_request_s) is not None else None for n in names}
    row("first request after start-up (ms)", first, ".1f", ratios=False)
    return lines


def _scale(values: dict[str, float | None], factor: float) -> dict[str, float | None]:
    return {k: v * factor if v is not None else None for k, v in values.items()}


def _verdict(value: float | None, goal: float, lower_is_better: bool, unit: str) -> str:
    if value is None:
        return "not measured"
    met = value <= goal if lower_is_better else value >= goal
    if met:
        return "**met**"
    if lower_is_better:
        return f"**missed** by {value - goal:.2f} {unit} ({value / goal:.1f}x the goal)"
    return f"**missed** by {goal - value:.0f} {unit} ({value / goal:.0%} of the goal)"


def process_split_line(results: dict[str, TargetResults], name: str = "gateway") -> str | None:
    """How the target's CPU at concurrency 64 split between its processes (supervisor and workers), per round."""
    rounds = [r.process_cpus for r in results[name].c64 if len(r.process_cpus) > 1]
    if not rounds:
        return None
    cells = ["/".join(f"{cpu:.2f}" for cpu in split) for split in rounds]
    return (
        f"{TITLES[name]} CPUs used per process at concurrency 64 (busiest first, supervisor included), by round: "
        + "; ".join(cells)
    )


def targets_table(results: dict[str, TargetResults], workers: int = 1) -> list[str]:
    p50 = added(results, "gateway", LATENCY_ROWS[0][1])
    p99 = added(results, "gateway", LATENCY_ROWS[1][1])
    rps = _c64(results["gateway"], "rps")
    hold = results["gateway"].hold
    lines = ["| target (issue 3, fast path) | goal | measured | verdict |", "|---|---|---|---|"]
    lines.append(
        f"| added latency p50, concurrency 1 | ≤ {TARGET_ADDED_P50_MS} ms | {_ms(p50, True)} ms | "
        f"{_verdict(p50, TARGET_ADDED_P50_MS, True, 'ms')} |"
    )
    lines.append(
        f"| added latency p99, concurrency 1 | ≤ {TARGET_ADDED_P99_MS} ms | {_ms(p99, True)} ms | "
        f"{_verdict(p99, TARGET_ADDED_P99_MS, True, 'ms')} |"
    )
    if workers == 1:
        verdict = _verdict(rps, TARGET_RPS, False, "req/s")
    else:
        verdict = f"not checked: measured with {workers} workers"
    lines.append(f"| requests/s, one worker | ≥ {TARGET_RPS:,.0f} | {_fmt(rps, ',.0f')} | {verdict} |")
    if hold is not None:
        verdict = (
            _verdict(float(hold.alive), TARGET_STREAMS, False, "streams")
            if hold.requested >= TARGET_STREAMS
            else f"not checked: only {hold.requested} opened (run without --quick)"
        )
        lines.append(
            f"| concurrent open SSE streams, one process | ≥ {TARGET_STREAMS:,} | {hold.alive:,} of {hold.requested:,}"
            f" | {verdict} |"
        )
    lines.append("| translated path added p50 | ≤ 5 ms | not measured here (fast path only) | - |")
    return lines


def samples_line(results: dict[str, TargetResults]) -> str:
    parts = []
    for name in (n for n in NAMES if n in results):
        t = results[name]
        c1 = sum(len(r.latencies) for r in t.c1)
        c64 = sum(len(r.latencies) for r in t.c64)
        st = sum(len(r.ttfb) for r in t.stream)
        parts.append(f"{name}: {c1} / {c64} / {st}")
    return "samples (concurrency 1 / concurrency 64 / streams), all rounds: " + "; ".join(parts)


def errors_lines(results: dict[str, TargetResults]) -> list[str]:
    out = []
    for name in (n for n in NAMES if n in results):
        t = results[name]
        if t.errors():
            out.append(f"- {TITLES[name]}: {t.errors()} failed requests (first: {t.first_error()})")
    return out


def noise_line(results: dict[str, TargetResults]) -> str:
    """How busy the rest of the machine was while we measured (other tenants: tests, builds, editors)."""
    parts = []
    for label, runs in (
        ("concurrency 1", [r for t in results.values() for r in t.c1]),
        ("concurrency 64", [r for t in results.values() for r in t.c64]),
        ("held streams", [t.hold for t in results.values() if t.hold]),
    ):
        values = [r.background_cpus for r in runs if r and r.background_cpus is not None]
        if values:
            parts.append(f"{label}: median {statistics.median(values):.2f}, max {max(values):.2f}")
    head = f"CPU used by other processes during the measurement windows, in CPUs (of {os.cpu_count()}): "
    return head + "; ".join(parts)
