"""``process``: the command runs as a plain subprocess of the gateway, as the gateway's user, in the session's
directory, with rlimits, a time limit and a clean environment. No isolation: a command can read and write whatever the
gateway's user can, and reach any network. For trusted single-user setups only; refused outside local mode unless
``runtime.allow_process_executor`` is true (see :func:`gateway.runtime.executor.make_executor`)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

from gateway.runtime.executor import shell, spawn
from gateway.runtime.executor.base import Completed, Limits, Network, package_env, remove, session_dir

PATH = "/usr/local/bin:/usr/bin:/bin"


class ProcessExecutor:
    name = "process"

    def __init__(self, workdir: Path, limits: Limits) -> None:
        self.workdir, self.limits = workdir, limits

    def files(self, session_id: str) -> Path:
        path = session_dir(self.workdir, session_id) / "files"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def visible_root(self, session_id: str) -> str:
        return str(self.files(session_id))

    def own(self, path: Path) -> None:
        return None  # the gateway's user runs the commands

    async def run(
        self, session_id: str, command: str, *, network: Network, timeout_s: float, packages: Path | None = None
    ) -> Completed:
        root = self.files(session_id)
        state = root.parent / "shell"
        shell.prepare(state, command)
        env = {"PATH": PATH, "HOME": str(root), "LANG": "C.UTF-8", "TERM": "dumb"}
        if packages is not None:
            env |= package_env(str(packages), apt=(packages / "apt").is_dir())
        limits = replace(self.limits, timeout_s=timeout_s)
        argv = ["/bin/bash", "--noprofile", "--norc", "-c", shell.script(str(state), str(root))]
        # RLIMIT_NPROC counts all of the gateway user's processes here, so it is not set (see the README)
        preexec = spawn.rlimits(limits, processes=False)
        return await spawn.run(argv, cwd=str(root), env=env, limits=limits, timeout_s=timeout_s, preexec=preexec)

    async def install(self, directory: Path, command: str, *, network: Network, timeout_s: float) -> Completed:
        env = {"PATH": PATH, "HOME": str(directory), "LANG": "C.UTF-8", "GW_PACKAGES": str(directory)}
        limits = replace(self.limits, timeout_s=timeout_s)
        argv = ["/bin/bash", "--noprofile", "--norc", "-c", command]
        preexec = spawn.rlimits(limits, processes=False)
        return await spawn.run(argv, cwd=str(directory), env=env, limits=limits, timeout_s=timeout_s, preexec=preexec)

    async def reset(self, session_id: str) -> None:
        shell.reset(session_dir(self.workdir, session_id) / "shell")

    async def delete(self, session_id: str) -> None:
        await asyncio.to_thread(remove, session_dir(self.workdir, session_id))

    async def close(self) -> None:
        return None
