"""The executor interface: where the built-in toolset's commands run for sessions on ``cloud`` environments.

An executor owns one directory per session (:meth:`Executor.files`: the command's working directory, where the file
tools read and write) and runs one shell script per call in it (:meth:`Executor.run`), with a network policy
(:class:`Network`), a wall-clock limit, and the output capped at ``max_output_bytes``. Every process a call starts is
gone when :meth:`Executor.run` returns; the session's files stay until :meth:`Executor.delete`.

A container executor (Docker, Kubernetes Jobs) implements the same four methods: ``files`` a volume the gateway can
also reach (or file tools that go through ``run``), ``run`` one ``exec`` in the session's container."""

from __future__ import annotations

import platform
import re
import shutil
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

NetworkMode = Literal["none", "limited", "unrestricted"]
_SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


@dataclass(frozen=True, slots=True)
class Network:
    """What a call may reach: nothing, ``allowed_hosts`` through the egress proxy, or anything."""

    mode: NetworkMode = "none"
    allowed_hosts: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Limits:
    timeout_s: float
    max_output_bytes: int
    memory_mb: int
    file_mb: int
    processes: int


@dataclass(frozen=True, slots=True)
class Completed:
    #: stdout and stderr interleaved, at most ``max_output_bytes`` of it
    output: bytes
    #: the shell's exit status (a negative number: killed by that signal); None when the time limit killed it
    exit_code: int | None
    #: bytes of output left out
    cut: int = 0

    @property
    def timed_out(self) -> bool:
        return self.exit_code is None


class Executor(Protocol):
    #: ``sandbox`` or ``process``: named in logs and docs
    name: str

    def files(self, session_id: str) -> Path:
        """The host path of the session's working directory (created on first use)."""
        ...

    def visible_root(self, session_id: str) -> str:
        """The working directory's path as the session's commands see it (``/workspace`` in the sandbox)."""
        ...

    def own(self, path: Path) -> None:
        """Give a file the gateway wrote in :meth:`files` to the user the session's commands run as."""
        ...

    async def run(
        self, session_id: str, command: str, *, network: Network, timeout_s: float, packages: Path | None = None
    ) -> Completed:
        """Run ``command`` with bash in the session's working directory (state kept per session, see shell.py);
        ``packages``: an environment's package directory made by :meth:`install`, on the command's paths."""
        ...

    async def install(self, directory: Path, command: str, *, network: Network, timeout_s: float) -> Completed:
        """Run ``command`` (an install) with ``directory`` (which exists) writable at ``$GW_PACKAGES``."""
        ...

    async def reset(self, session_id: str) -> None:
        """Forget the session's shell state (bash ``restart``)."""
        ...

    async def delete(self, session_id: str) -> None:
        """Remove the session's directory (the session was deleted)."""
        ...

    async def close(self) -> None:
        """Stop what the executor runs for all sessions (the gateway shuts down); files stay."""
        ...


def package_env(root: str, *, apt: bool = False) -> dict[str, str]:
    """Where commands find an environment's packages installed under ``root`` (pip ``--target``, npm ``--prefix``;
    with ``apt``, the ``.deb`` files unpacked at ``root/apt/root``: its program and library directories)."""
    path = f"{root}/python/bin:{root}/node/node_modules/.bin"
    env = {"PYTHONPATH": f"{root}/python", "NODE_PATH": f"{root}/node/node_modules"}
    if apt:
        prefix = f"{root}/apt/root"
        path += "".join(f":{prefix}{d}" for d in ("/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"))
        path += f":{prefix}/usr/games"
        triplet = sysconfig.get_config_var("MULTIARCH") or f"{platform.machine()}-linux-gnu"
        libs = (f"/usr/lib/{triplet}", f"/lib/{triplet}", "/usr/lib", "/lib")
        env["LD_LIBRARY_PATH"] = ":".join(prefix + d for d in libs)
    return env | {"GW_PATH_PREFIX": path}


def session_dir(workdir: Path, session_id: str) -> Path:
    if not _SESSION_ID.match(session_id):
        raise ValueError(f"not a session id: {session_id!r}")
    return workdir / session_id


def remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
