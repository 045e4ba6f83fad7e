"""The load generator of ``bench/native_hop.py`` (aiohttp client, runs in the benchmark process).

- :func:`closed_loop`: N workers, each sending the next request when its previous one completes, for a warm-up
  then a measured window; latencies of requests inside the window, throughput, and the target process's CPU time
  (/proc utime+stime, the process and its descendants: all workers of a ``--workers N`` gateway, and how it splits
  between them), its peak RSS and the whole machine's busy CPUs over the window.
- :func:`stream_latency`: sequential streamed requests; time to the first body byte and to the end of the stream.
- :func:`hold_streams`: open N slow SSE streams at once, hold them, and check that every one is still receiving
  events at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import aiohttp

from bench.hop_procs import cpu_by_process, cpu_seconds, open_fds, rss_mb, system_busy_seconds

MODEL = "claude-sonnet-5-5"
# The benchmark's own processes (fake, gateway, LiteLLM, this one): CPU used by anything else during a measurement
# window is reported as background load (other tenants of the machine).
OURS: list[int] = []


def request_body(stream: bool) -> bytes:
    """A small Claude-style request (about 200 bytes) that the gateway forwards byte for byte (no hygiene rule)."""
    text = (
        '{"model":"' + MODEL + '","max_tokens":256,"system":"You are a concise assistant.",'
        '"messages":[{"role":"user","content":[{"type":"text","text":"Say hello to the benchmark."}]}]'
    )
    return (text + (',"stream":true}' if stream else "}")).encode()


@dataclass(frozen=True)
class Target:
    """Where requests go: ``direct`` (the fake), ``gateway`` or ``litellm``; ``pid`` is the process to account."""

    name: str
    url: str
    headers: Mapping[str, str]
    pid: int | None

    @property
    def messages_url(self) -> str:
        return self.url + "/v1/messages"


@dataclass
class LoadRun:
    latencies: list[float]  # seconds, of the requests that finished inside the measured window
    completed: int
    window_s: float
    errors: int = 0
    first_error: str | None = None
    cpu_s: float | None = None
    rss_peak_mb: float | None = None
    background_cpus: float | None = None  # CPUs used by other processes during the window
    machine_cpus: float | None = None  # CPUs busy on the whole machine during the window (all processes)
    process_cpus: tuple[float, ...] = ()  # CPUs used by each process of the target's tree, busiest first

    @property
    def rps(self) -> float:
        return self.completed / self.window_s if self.window_s > 0 else 0.0

    @property
    def cpu_per_request_s(self) -> float | None:
        return self.cpu_s / self.completed if self.cpu_s is not None and self.completed else None

    @property
    def cpu_share(self) -> float | None:
        return self.cpu_s / self.window_s if self.cpu_s is not None and self.window_s > 0 else None


def _session(limit: int = 0, read_timeout: float | None = 60.0) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=limit, ttl_dns_cache=None, use_dns_cache=False)
    timeout = aiohttp.ClientTimeout(total=None, connect=10, sock_read=read_timeout)
    return aiohttp.ClientSession(connector=connector, timeout=timeout, trust_env=False, auto_decompress=False)


@dataclass
class _Window:
    start: float = 0.0
    end: float = 0.0
    cpu_s: float | None = None
    rss_peak_mb: float | None = None
    background_cpus: float | None = None
    machine_cpus: float | None = None
    process_cpus: tuple[float, ...] = ()


def _ours_and_all() -> tuple[float, float]:
    """CPU seconds of the benchmark's processes and their descendants, each process counted once (this process is
    the parent of the others, so summing each one's tree would count the fake and the servers twice), and of the
    whole machine."""
    ours: dict[int, float] = {}
    for pid in OURS:
        ours.update(cpu_by_process(pid))
    return sum(ours.values()), system_busy_seconds()


async def _watch(pid: int | None, begin: float, finish: float, window: _Window, every: float = 0.2) -> None:
    """CPU time of ``pid`` between ``begin`` and ``finish`` (perf_counter times) and its peak RSS meanwhile."""
    await asyncio.sleep(max(0.0, begin - time.perf_counter()))
    window.start = time.perf_counter()
    ours0, all0 = _ours_and_all()
    by_process0 = cpu_by_process(pid) if pid else {}
    cpu0 = sum(by_process0.values()) if pid else None
    peak = rss_mb(pid) if pid else None
    while (now := time.perf_counter()) < finish:
        await asyncio.sleep(min(every, finish - now))
        if pid:
            peak = max(peak or 0.0, rss_mb(pid))
    window.end = time.perf_counter()
    ours1, all1 = _ours_and_all()
    span = window.end - window.start
    if OURS and span > 0:
        window.background_cpus = max(0.0, (all1 - all0) - (ours1 - ours0)) / span
    if span > 0:
        window.machine_cpus = (all1 - all0) / span
    if pid and cpu0 is not None:
        by_process1 = cpu_by_process(pid)
        window.cpu_s = sum(by_process1.values()) - cpu0
        window.rss_peak_mb = peak
        if span > 0:
            used = [(cpu - by_process0.get(member, 0.0)) / span for member, cpu in by_process1.items()]
            window.process_cpus = tuple(sorted(used, reverse=True))


async def closed_loop(target: Target, body: bytes, concurrency: int, warmup_s: float, measure_s: float) -> LoadRun:
    samples: list[tuple[float, float]] = []
    errors: list[str] = []
    async with _session(limit=0) as session:
        t0 = time.perf_counter()
        begin, finish = t0 + warmup_s, t0 + warmup_s + measure_s
        headers = dict(target.headers)

        async def worker() -> None:
            while (start := time.perf_counter()) < finish:
                try:
                    async with session.post(target.messages_url, data=body, headers=headers) as response:
                        await response.read()
                        status = response.status
                except (aiohttp.ClientError, TimeoutError) as exc:
                    errors.append(f"{type(exc).__name__}: {exc}")
                    await asyncio.sleep(0.01)
                    continue
                if status != 200:
                    errors.append(f"HTTP {status}")
                    continue
                samples.append((start, time.perf_counter()))

        window = _Window()
        await asyncio.gather(_watch(target.pid, begin, finish, window), *(worker() for _ in range(concurrency)))
    inside = [end - start for start, end in samples if window.start <= end <= window.end]
    return LoadRun(
        latencies=inside,
        completed=len(inside),
        window_s=window.end - window.start,
        errors=len(errors),
        first_error=errors[0] if errors else None,
        cpu_s=window.cpu_s,
        rss_peak_mb=window.rss_peak_mb,
        background_cpus=window.background_cpus,
        machine_cpus=window.machine_cpus,
        process_cpus=window.process_cpus,
    )


async def quiesce(pid: int | None, *, below: float = 0.05, window_s: float = 0.3, timeout_s: float = 20.0) -> float:
    """Wait until ``pid`` uses less than ``below`` of a CPU over ``window_s`` (a server still busy with the last
    phase's leftovers would steal the shared CPU from the next target); returns the seconds waited."""
    started = time.perf_counter()
    while pid and time.perf_counter() - started < timeout_s:
        before = cpu_seconds(pid)
        await asyncio.sleep(window_s)
        if cpu_seconds(pid) - before < below * window_s:
            break
    return time.perf_counter() - started


async def first_request(target: Target, body: bytes) -> float | None:
    """Seconds for one request on a new connection (the first after start-up shows lazy initialisation)."""
    async with _session() as session:
        start = time.perf_counter()
        try:
            async with session.post(target.messages_url, data=body, headers=dict(target.headers)) as response:
                await response.read()
                ok = response.status == 200
        except (aiohttp.ClientError, TimeoutError):
            return None
    return time.perf_counter() - start if ok else None


@dataclass
class StreamRun:
    ttfb: list[float] = field(default_factory=list)  # seconds to the first body byte
    ttlb: list[float] = field(default_factory=list)  # seconds to the end of the stream
    errors: int = 0
    first_error: str | None = None


async def _stream_once(session: aiohttp.ClientSession, target: Target, body: bytes) -> tuple[float, float]:
    start = time.perf_counter()
    first: float | None = None
    tail = b""
    async with session.post(target.messages_url, data=body, headers=dict(target.headers)) as response:
        if response.status != 200:
            raise ValueError(f"HTTP {response.status}")
        async for chunk in response.content.iter_any():
            if first is None:
                first = time.perf_counter()
            if b"event: error" in chunk:
                raise ValueError("error event in the stream")
            tail = (tail + chunk)[-512:]
    last = time.perf_counter()
    if first is None or b"message_stop" not in tail:
        raise ValueError("stream ended without message_stop")
    return first - start, last - start


async def stream_latency(target: Target, body: bytes, n: int, warmup: int) -> StreamRun:
    run = StreamRun()
    async with _session(limit=0) as session:
        for i in range(warmup + n):
            try:
                ttfb, ttlb = await _stream_once(session, target, body)
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                run.errors += 1
                run.first_error = run.first_error or f"{type(exc).__name__}: {exc}"
                continue
            if i >= warmup:
                run.ttfb.append(ttfb)
                run.ttlb.append(ttlb)
    return run


@dataclass
class _Stream:
    status: int | None = None
    events: int = 0
    last: float = 0.0
    ended: bool = False
    error: str | None = None
    settled: bool = False


@dataclass
class HoldRun:
    requested: int
    receiving: int  # streams that received at least one event before the hold started
    alive: int  # streams still receiving events at the end of the hold
    open_s: float  # time until every stream received its first event (or the open timeout)
    hold_s: float
    errors: dict[str, int]
    cpu_share: float | None = None  # target CPU use while only holding the streams
    rss_peak_mb: float | None = None
    fds_peak: int | None = None
    background_cpus: float | None = None


async def hold_streams(
    target: Target, body: bytes, n: int, *, ramp_s: float, hold_s: float, event_delay_s: float, open_timeout_s: float
) -> HoldRun:
    """Open ``n`` streams (ramped over ``ramp_s``), wait until each received an event, hold ``hold_s``, check."""
    streams = [_Stream() for _ in range(n)]
    headers = dict(target.headers)

    settled = 0  # streams that received their first event, failed or ended
    all_settled = asyncio.Event()

    def settle(state: _Stream) -> None:
        nonlocal settled
        if state.settled:
            return
        state.settled = True
        settled += 1
        if settled == n:
            all_settled.set()

    async def one(session: aiohttp.ClientSession, state: _Stream) -> None:
        try:
            async with session.post(target.messages_url, data=body, headers=headers) as response:
                state.status = response.status
                if response.status != 200:
                    state.error = f"HTTP {response.status}"
                    return
                async for chunk in response.content.iter_any():
                    settle(state)
                    state.last = time.perf_counter()
                    state.events += chunk.count(b"\n\n")
                    if b"event: error" in chunk:
                        state.error = "error event"
            state.ended = True
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            state.error = type(exc).__name__
        finally:
            settle(state)

    async with _session(limit=0, read_timeout=event_delay_s * 10 + 30) as session:
        started = time.perf_counter()
        tasks: list[asyncio.Task[None]] = []
        batches = 20
        size = max(1, -(-n // batches))
        for i in range(0, n, size):
            tasks += [asyncio.create_task(one(session, s)) for s in streams[i : i + size]]
            await asyncio.sleep(ramp_s / batches)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                all_settled.wait(), max(0.0, started + ramp_s + open_timeout_s - time.perf_counter())
            )
        open_s = time.perf_counter() - started
        receiving = sum(1 for s in streams if s.events > 0 and s.error is None)
        baseline = [s.events for s in streams]
        window = _Window()
        fds_peak = 0

        async def count_fds() -> None:
            nonlocal fds_peak
            while not window.end:
                if target.pid:
                    fds_peak = max(fds_peak, open_fds(target.pid))
                await asyncio.sleep(0.5)

        now = time.perf_counter()
        await asyncio.gather(_watch(target.pid, now, now + hold_s, window, every=0.5), count_fds())
        checked = time.perf_counter()
        need = max(1, int(hold_s / event_delay_s * 0.5))
        stale_after = 2 * event_delay_s + 1.0
        alive = sum(
            1
            for s, before in zip(streams, baseline, strict=True)
            if s.error is None and not s.ended and s.events - before >= need and checked - s.last <= stale_after
        )
        for task in tasks:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*tasks, return_exceptions=True)
    errors: dict[str, int] = {}
    for s in streams:
        key = s.error or ("ended early" if s.ended else "no event yet" if s.events == 0 else None)
        if key:
            errors[key] = errors.get(key, 0) + 1
    return HoldRun(
        requested=n,
        receiving=receiving,
        alive=alive,
        open_s=open_s,
        hold_s=window.end - window.start,
        errors=errors,
        cpu_share=window.cpu_s / (window.end - window.start) if window.cpu_s is not None else None,
        rss_peak_mb=window.rss_peak_mb,
        fds_peak=fds_peak or None,
        background_cpus=window.background_cpus,
    )
