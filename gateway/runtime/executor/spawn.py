"""Running one call's process tree: a clean environment, rlimits, output capped, and every process killed at the end.

The child starts a new session (its own process group); on return — normal exit or time limit — the whole group gets
SIGKILL. The sandbox adds a PID namespace, which also takes processes that left the group (``setsid``) with it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import signal
from collections.abc import Callable, Mapping, Sequence

from gateway.runtime.executor.base import Completed, Limits

MIB = 1024 * 1024
#: how long output is still read after the shell exited (background processes writing to the pipe are killed)
DRAIN_S = 0.5


def rlimits(limits: Limits, *, processes: bool = True) -> Callable[[], None]:
    """A ``preexec_fn`` setting the call's limits (inherited by everything the call starts)."""
    memory, files = limits.memory_mb * MIB, limits.file_mb * MIB
    cpu = int(limits.timeout_s) + 1

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_FSIZE, (files, files))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if processes:
            resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))

    return apply


async def _read(stream: asyncio.StreamReader, cap: int, kept: bytearray) -> int:
    """Read to EOF, keeping the first ``cap`` bytes; returns how many were dropped."""
    dropped = 0
    while chunk := await stream.read(65536):
        room = cap - len(kept)
        kept += chunk[: max(room, 0)]
        dropped += max(len(chunk) - max(room, 0), 0)
    return dropped


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


async def run(
    argv: Sequence[str],
    *,
    cwd: str,
    env: Mapping[str, str],
    limits: Limits,
    timeout_s: float,
    preexec: Callable[[], None],
    pass_fds: Sequence[int] = (),
) -> Completed:
    proc = await asyncio.create_subprocess_exec(
        *argv,
        cwd=cwd,
        env=dict(env),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=preexec,
        pass_fds=tuple(pass_fds),
    )
    assert proc.stdout is not None
    kept = bytearray()
    reader = asyncio.ensure_future(_read(proc.stdout, limits.max_output_bytes, kept))
    timed_out = False
    try:
        await asyncio.wait_for(proc.wait(), timeout=timeout_s)
    except TimeoutError:
        timed_out = True
    except BaseException:  # cancelled: kill everything, then let the cancellation through
        _kill(proc.pid)
        reader.cancel()
        raise
    finally:
        _kill(proc.pid)
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await asyncio.shield(proc.wait())
    dropped = 0
    try:
        dropped = await asyncio.wait_for(asyncio.shield(reader), timeout=DRAIN_S)
    except TimeoutError:
        pass
    finally:  # also when the call was cancelled (an interrupt): the reader must not outlive it
        if not reader.done():
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
    return Completed(bytes(kept), None if timed_out else proc.returncode, dropped)
