"""Executors for the built-in toolset on ``cloud`` environments (``runtime.cloud_executor``), see base.py."""

from __future__ import annotations

from pathlib import Path

from gateway.runtime.config import RuntimeConfig, RuntimeConfigError
from gateway.runtime.executor.base import Completed, Executor, Limits, Network
from gateway.runtime.executor.process import ProcessExecutor
from gateway.runtime.executor.sandbox import SandboxExecutor, probe

__all__ = ["Completed", "Executor", "Limits", "Network", "make_executor", "workdir_of"]


def workdir_of(config: RuntimeConfig) -> Path:
    if config.workdir:
        return Path(config.workdir).expanduser().resolve()
    from gateway.storage.config import data_dir

    return (data_dir() / "sessions").resolve()


def limits_of(config: RuntimeConfig) -> Limits:
    return Limits(
        timeout_s=config.tool_timeout_s,
        max_output_bytes=config.max_output_bytes,
        memory_mb=config.sandbox_memory_mb,
        file_mb=config.sandbox_file_mb,
        processes=config.sandbox_processes,
    )


def check(config: RuntimeConfig, *, local_mode: bool) -> None:
    """Refuse ``process`` outside local mode unless ``allow_process_executor`` (called by ``serve`` at start-up)."""
    if config.cloud_executor == "process" and not (local_mode or config.allow_process_executor):
        raise RuntimeConfigError(
            "runtime.cloud_executor: process runs commands unsandboxed as the gateway's user; it is allowed in "
            "local mode (no gateway api_keys) or with runtime.allow_process_executor: true"
        )


def make_executor(config: RuntimeConfig, *, local_mode: bool) -> tuple[Executor | None, str | None]:
    """The configured executor, or None with the reason to warn about (``none`` configured: no reason).

    ``process`` outside local mode without ``allow_process_executor`` is a configuration error (it gives every
    API-key holder's model a shell as the gateway's user); a ``sandbox`` that cannot start here is a warning and the
    ``none`` behaviour."""
    if config.cloud_executor == "none":
        return None, None
    workdir = workdir_of(config)
    if config.cloud_executor == "process":
        check(config, local_mode=local_mode)
        workdir.mkdir(parents=True, exist_ok=True)
        return ProcessExecutor(workdir, limits_of(config)), None
    problem = probe()
    if problem is not None:
        return None, (
            f"runtime.cloud_executor is sandbox, but {problem}; built-in tools on cloud environments end the turn "
            "with session.error until it works (or set runtime.cloud_executor)"
        )
    workdir.mkdir(parents=True, exist_ok=True)
    executor = SandboxExecutor(
        workdir,
        limits_of(config),
        host_network=config.sandbox_host_network,
        networks=config.egress_allowed_networks,
    )
    return executor, None
