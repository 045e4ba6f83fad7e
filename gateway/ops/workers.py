"""Running the gateway: one uvicorn server (:func:`run_one`), or a supervisor and N of them (:func:`supervise`).

With ``serve --workers N`` (N > 1) the supervisor binds the listening socket once, forks N worker processes that
accept on it (the kernel spreads the connections) and waits. Each worker is a whole gateway: its own lifespan,
database pool and Redis client, so everything shared between workers lives in the database and Redis, as between
gateways on different machines. The supervisor:

- sets ``PROMETHEUS_MULTIPROC_DIR`` (a fresh temporary directory, unless it is already set) before forking, so that
  ``/metrics`` in any worker reports the sum over all of them, and removes the directory it made at exit;
- forwards SIGTERM/SIGINT to every worker (each drains, see :mod:`gateway.ops.drain`) and exits when all have,
  with status 0 when they all exited 0;
- starts a new worker in place of one that died (not during a stop); a worker whose server could not start, or
  that exits with an error within :data:`START_WINDOW` seconds of its start, stops the whole gateway instead (a
  configuration error would otherwise restart forever). A worker killed by a signal is always replaced.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from typing import Any

from starlette.types import ASGIApp

from gateway.limits import Limits
from gateway.ops.config import OpsConfig
from gateway.ops.metrics import MULTIPROC_ENV
from gateway.settings import Settings

logger = logging.getLogger("gateway.ops")
START_WINDOW = 10.0
EXIT_START_FAILED = 3


def run_one(app: ASGIApp, settings: Settings, limits: Limits, ops: OpsConfig, sock: socket.socket | None = None) -> int:
    """Serve ``app`` until it is stopped (on ``sock`` when given); returns the exit status."""
    import uvicorn

    from gateway.ops.drain import DrainingServer
    from gateway.ops.logformat import uvicorn_log_config
    from gateway.server import uvicorn_options

    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        log_config=uvicorn_log_config(ops.log_format),
        loop="uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
        **uvicorn_options(limits),  # the HTTP protocol with the server: limits, keep-alive timeout
        lifespan="on",
        server_header=False,
        # one line per request from uvicorn costs ~2.5 % of a proxied request (issue-3 benchmark, hot spot 4): on at
        # debug/trace only; every request gets the gateway's own access line (gateway.ops.access) at info
        access_log=settings.log_level in ("debug", "trace"),
        timeout_graceful_shutdown=int(ops.drain_grace_seconds + 0.999),
    )
    server = DrainingServer(config, ops.drain_announce_seconds)
    server.run(sockets=[sock] if sock is not None else None)
    return 0 if server.started else EXIT_START_FAILED


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.create_server((host, port), family=family, backlog=2048)
    sock.set_inheritable(True)
    return sock


def supervise(app: ASGIApp, settings: Settings, limits: Limits, ops: OpsConfig, workers: int) -> int:
    """Serve with ``workers`` processes on one socket (see the module doc); returns the exit status."""
    own_dir = None
    if not os.environ.get(MULTIPROC_ENV):
        own_dir = tempfile.mkdtemp(prefix=f"litellm-gateway-metrics-{os.getpid()}-")
        os.environ[MULTIPROC_ENV] = own_dir
    from prometheus_client import values  # reads the variable at import: make sure an earlier import sees it too

    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
    sock = bind(settings.host, settings.port)
    children: dict[int, float] = {}
    stopping = False
    failed = 0

    def start() -> None:
        pid = os.fork()
        if pid == 0:  # the worker
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            code = 1
            try:
                code = run_one(app, settings, limits, ops, sock)
            except BaseException:
                logger.exception("worker %d failed", os.getpid())
            finally:
                logging.shutdown()
                os._exit(code)
        children[pid] = time.monotonic()

    def stop(signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    logger.info("starting %d workers on %s:%d", workers, settings.host, settings.port)
    for _ in range(workers):
        start()
    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        while children:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                break
            started = children.pop(pid, None)
            if started is None:
                continue
            _mark_dead(pid)
            code = os.waitstatus_to_exitcode(status)
            if code != 0:
                failed = code if code > 0 else 1
            if stopping:
                continue
            early = code > 0 and time.monotonic() - started < START_WINDOW  # a signal (code < 0) is no start failure
            if code == EXIT_START_FAILED or early:
                logger.error("worker %d exited with %d at start-up; stopping the gateway", pid, code)
                stop(signal.SIGTERM, None)
                continue
            logger.warning("worker %d exited (%d); starting another", pid, code)
            failed = 0
            start()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        sock.close()
        if own_dir is not None:
            shutil.rmtree(own_dir, ignore_errors=True)
    return failed


def _mark_dead(pid: int) -> None:
    from gateway.ops.metrics import mark_process_dead

    try:
        mark_process_dead(pid)
    except Exception:
        print(f"could not mark worker {pid} dead in the metrics directory", file=sys.stderr)
