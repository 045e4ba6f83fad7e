"""The built-in toolset (``bash``, ``read``, ``write``, ``edit``, ``glob``, ``grep``) answered by the gateway on
``cloud`` environments, through the configured executor (:mod:`gateway.runtime.executor`).

Registered ``cloud_only`` in the :class:`~gateway.runtime.server_tools.ServerTools` registry, so calls on
``self_hosted`` environments still go to the worker. Results follow the SDK's reference toolset
(``anthropic.lib.tools.agent_toolset``): ``bash`` with a non-zero exit is an error whose content is the output;
``write``/``edit`` answer with a one-line summary; ``glob`` lists newest first; ``grep`` prints ``path:line:text``
(GNU ``grep -rnE`` run by the executor, so a pathological pattern is bound by the call's limits)."""

from __future__ import annotations

import asyncio
import shlex
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from gateway.runtime import files, resources
from gateway.runtime.executor import Completed, Executor, Network
from gateway.runtime.failures import EndsTurn
from gateway.runtime.packages import Packages
from gateway.runtime.resources import MNT, Mounts
from gateway.runtime.server_tools import Outcome, ServerCall, ServerTools

NAMES = ("bash", "read", "write", "edit", "glob", "grep")
#: the glob tool's program: matches newest first, as absolute paths; in a subshell, so the session's shell state
#: (directory, variables) is not touched
GLOB = """(
cd -- {where} || exit 2
shopt -s globstar nullglob dotglob
IFS=
__gw_pattern={pattern}
__gw_matches=( $__gw_pattern )
[ ${{#__gw_matches[@]}} -eq 0 ] && exit 1
__gw_matches=( "${{__gw_matches[@]:0:{limit}}}" )
ls -1dt -- "${{__gw_matches[@]/#/$PWD/}}"
)"""
Tool = Callable[[ServerCall], Coroutine[Any, Any, Outcome]]


def network_of(environment: Mapping[str, Any] | None) -> Network:
    """The environment's ``config.networking`` as the executor applies it."""
    networking = ((environment or {}).get("config") or {}).get("networking") or {}
    if networking.get("type") == "unrestricted":
        return Network("unrestricted")
    if networking.get("type") == "limited":
        return Network("limited", tuple(str(h) for h in networking.get("allowed_hosts") or []))
    return Network("none")


def _note(text: str, note: str) -> str:
    return f"{text}{'' if not text or text.endswith(chr(10)) else chr(10)}[{note}]"


def render(done: Completed, timeout_s: float) -> Outcome:
    text = done.output.decode("utf-8", errors="replace")
    if done.cut:
        text = _note(text, f"output truncated: {done.cut} more bytes")
    if done.timed_out:
        text = _note(text, f"timed out after {timeout_s:g}s; the command and everything it started were killed")
        return Outcome.text(text, is_error=True)
    if done.exit_code != 0:
        return Outcome.text(_note(text, f"exit code {done.exit_code}"), is_error=True)
    return Outcome.text(text)


class CloudTools:
    def __init__(self, executor: Executor, timeout_s: float, packages_root: Path, mounts: Mounts | None = None) -> None:
        self.executor, self.timeout_s = executor, timeout_s
        self.packages = Packages(executor, packages_root)
        #: the session's file and repository resources, put in place before a call (gateway/runtime/resources.py)
        self.mounts = mounts

    def register(self, registry: ServerTools) -> None:
        tools: dict[str, Tool] = {
            "bash": self.bash,
            "read": self.read,
            "write": self.write,
            "edit": self.edit,
            "glob": self.glob,
            "grep": self.grep,
        }
        for name, tool in tools.items():
            registry.register(name, _Guarded(name, tool, self.mounts), cloud_only=True)

    # --- helpers ------------------------------------------------------------------------------------------------
    def _root(self, call: ServerCall) -> tuple[Path, str]:
        return self.executor.files(call.session.id), self.executor.visible_root(call.session.id)

    def _path(self, call: ServerCall, key: str = "file_path", default: str | None = None) -> Path:
        value = call.input.get(key, default)
        if not isinstance(value, str) or not value:
            raise files.PathRefused(f"{key} is required")
        if value.startswith(MNT + "/"):  # a session resource's mount (gateway/runtime/resources.py)
            return resources.host_path(self.executor, call.session.id, value)
        root, visible = self._root(call)
        return files.host_path(root, visible, value)

    def _where(self, call: ServerCall) -> str:
        """The ``path`` of ``glob``/``grep`` as the commands see it (the working directory when absent)."""
        root, visible = self._root(call)
        if not call.input.get("path"):
            return visible
        host = self._path(call, "path")
        if files.within(host, root.resolve()):
            return files.visible_path(root, visible, host)
        # a resource under /mnt: there in the sandbox; the process executor sees the host path
        return files.visible_path(root.parent / "mnt", MNT, host) if visible != str(root) else str(host)

    async def _run(self, call: ServerCall, command: str, timeout_s: float) -> Completed:
        environment = call.environment.doc if call.environment is not None else None
        environment_id = call.environment.id if call.environment is not None else ""
        packages = await self.packages.ensure(environment_id, environment)
        network = network_of(environment)
        return await self.executor.run(
            call.session.id, command, network=network, timeout_s=timeout_s, packages=packages
        )

    # --- the tools ----------------------------------------------------------------------------------------------
    async def bash(self, call: ServerCall) -> Outcome:
        command, restart = call.input.get("command"), call.input.get("restart") is True
        if restart:
            await self.executor.reset(call.session.id)
            if not command:
                return Outcome.text("shell restarted")
        if not isinstance(command, str) or not command.strip():
            return Outcome.text("bash: command is required", is_error=True)
        timeout_s = self.timeout_s
        timeout_ms = call.input.get("timeout_ms")
        if isinstance(timeout_ms, int) and not isinstance(timeout_ms, bool) and timeout_ms > 0:
            timeout_s = min(timeout_s, timeout_ms / 1000)
        return render(await self._run(call, command, timeout_s), timeout_s)

    async def read(self, call: ServerCall) -> Outcome:
        view_range = call.input.get("view_range")
        if view_range is not None and not (
            isinstance(view_range, list) and len(view_range) == 2 and all(isinstance(n, int) for n in view_range)
        ):
            return Outcome.text("read: view_range must be [start_line, end_line]", is_error=True)
        path = self._path(call)
        text = await asyncio.to_thread(files.read, path, str(call.input["file_path"]), view_range)
        return Outcome.text(text)

    async def write(self, call: ServerCall) -> Outcome:
        content = call.input.get("content")
        if not isinstance(content, str):
            return Outcome.text("write: content is required", is_error=True)
        path = self._path(call)
        self._write(path, content, call)
        return Outcome.text(f"wrote {len(content)} bytes to {call.input['file_path']}")

    def _write(self, path: Path, content: str, call: ServerCall) -> None:
        root, _visible = self._root(call)
        for made in files.make_parents(path, root):
            self.executor.own(made)
        existed = path.exists()
        if existed and not path.is_file():
            raise files.PathRefused(f"{call.input['file_path']}: not a regular file")
        path.write_text(content, encoding="utf-8")
        if not existed:
            self.executor.own(path)

    async def edit(self, call: ServerCall) -> Outcome:
        old, new = call.input.get("old_string"), call.input.get("new_string")
        if not isinstance(old, str) or not isinstance(new, str) or not old:
            return Outcome.text("edit: old_string (not empty) and new_string are required", is_error=True)
        path, name = self._path(call), str(call.input["file_path"])
        text = await asyncio.to_thread(files.read, path, name, None)
        count = text.count(old)
        if count == 0:
            return Outcome.text(f"edit: old_string not found in {name}", is_error=True)
        replace_all = call.input.get("replace_all") is True
        if count > 1 and not replace_all:
            return Outcome.text(f"edit: old_string appears {count} times in {name} (must be unique)", is_error=True)
        self._write(path, text.replace(old, new) if replace_all else text.replace(old, new, 1), call)
        return Outcome.text(f"edited {name} ({count if replace_all else 1} replacement(s))")

    async def glob(self, call: ServerCall) -> Outcome:
        pattern = call.input.get("pattern")
        if not isinstance(pattern, str) or not pattern:
            return Outcome.text("glob: pattern is required", is_error=True)
        if PurePosixPath(pattern).is_absolute() or ".." in PurePosixPath(pattern).parts:
            return Outcome.text("glob: the pattern must be relative and without '..' (use path)", is_error=True)
        where = self._where(call)
        # expanded by bash in the sandbox (globstar: ``**`` does not follow symlinks), never executed
        command = GLOB.format(where=shlex.quote(where), pattern=shlex.quote(pattern), limit=files.GLOB_LIMIT)
        done = await self.executor.run(call.session.id, command, network=Network(), timeout_s=self.timeout_s)
        if done.exit_code == 1 and not done.output:
            return Outcome.text("no matches")
        if done.exit_code == 0 and not done.cut:
            return Outcome.text(done.output.decode("utf-8", errors="replace").rstrip("\n"))
        return render(done, self.timeout_s)

    async def grep(self, call: ServerCall) -> Outcome:
        pattern = call.input.get("pattern")
        if not isinstance(pattern, str) or not pattern:
            return Outcome.text("grep: pattern is required", is_error=True)
        where = self._where(call)
        command = f"grep -rnE -e {shlex.quote(pattern)} -- {shlex.quote(where)}"
        # no network: grep needs none (and skips the egress proxy's start)
        done = await self.executor.run(call.session.id, command, network=Network(), timeout_s=self.timeout_s)
        if done.exit_code == 1 and not done.output:
            return Outcome.text("no matches")
        return render(done, self.timeout_s)


@dataclass(frozen=True, slots=True)
class _Guarded:
    """A refused path or a file the tool cannot use is the model's error to read, not the gateway's failure."""

    name: str
    tool: Tool
    mounts: Mounts | None = None

    async def __call__(self, call: ServerCall) -> Outcome:
        try:
            if self.mounts is not None:
                await self.mounts.ensure(call)
            return await self.tool(call)
        except files.PathRefused as refused:
            return Outcome.text(f"{self.name}: {refused}", is_error=True)
        except EndsTurn as failure:  # the environment cannot serve the session: the turn ends after this result
            return Outcome.text(f"{self.name}: {failure}", is_error=True, ends_turn=failure.error)
        except UnicodeDecodeError:
            return Outcome.text(f"{self.name}: {call.input.get('file_path')}: not valid UTF-8 text", is_error=True)
        except OSError as error:
            where = call.input.get("file_path") or call.input.get("path") or ""
            return Outcome.text(f"{self.name}: {where}: {error.strerror or error}", is_error=True)
