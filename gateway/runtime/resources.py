"""A session's ``file`` and ``github_repository`` resources, put where its commands see them on the first built-in
tool call that needs them (and on the first call after a resource was added).

* ``mount_path`` must lie under ``/workspace`` (the session's files, :meth:`Executor.files`) or ``/mnt`` (the
  session's ``mnt`` directory, which the sandbox binds at ``/mnt``; the ``process`` executor has no ``/mnt``, there it
  stays ``<session dir>/mnt``). The defaults are ``/mnt/session/uploads/<file id>`` and ``/workspace/<repository>``.
* ``file``: the uploaded bytes (Files API blob) are copied to the mount path, readable by the session's user.
* ``github_repository``: cloned by the gateway with ``git`` (the repository's ``authorization_token`` goes in an
  ``Authorization`` header through git's environment, never into a URL, ``.git/config``, the sandbox, an event or
  a log), then ``checkout`` (a branch, or a commit) is checked out and the tree is given to the session's user.
  URLs under ``https://github.com/`` are cloned from ``runtime.github_base_url`` instead (a mirror, a GitHub
  Enterprise host, or a local ``file://`` directory for tests). Cloning needs the environment's networking:
  ``unrestricted``, or ``limited`` with the repository's host in ``allowed_hosts``; an ``http(s)`` host that resolves
  to a loopback, private or link-local address needs ``runtime.egress_allowed_networks``.

A resource that cannot be put in place ends the turn (:class:`gateway.runtime.failures.EndsTurn`): the model reads
the reason as the call's error, and a ``session.error`` (``repository_*_error`` for repositories) says it to the
client. Each resource is put in place once (a marker per resource id in ``<session dir>/mounted``)."""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from gateway.runtime import files
from gateway.runtime.executor import Executor
from gateway.runtime.executor.egress import host_allowed
from gateway.runtime.failures import EndsTurn
from gateway.runtime.guard import Networks, address_refusal
from gateway.runtime.server_tools import ServerCall
from gateway.storage import secrets
from gateway.storage.blobs import DirectoryBlobStore
from gateway.storage.config import StorageConfig

GITHUB = "https://github.com"
MNT = "/mnt"
CLONE_TIMEOUT_S = 600.0
MOUNTED = "mounted"
#: visible roots a mount path may lie under, and the session directory's subdirectory each maps to
ROOTS = {"/workspace": "files", MNT: "mnt"}
TAIL = 1500


def session_root(executor: Executor, session_id: str) -> Path:
    return executor.files(session_id).parent


def host_path(executor: Executor, session_id: str, mount_path: str) -> Path:
    """Where ``mount_path`` lives on the host (confined to its root, symlinks followed)."""
    pure = PurePosixPath(mount_path)
    for visible, sub in ROOTS.items():
        if pure.is_absolute() and pure.is_relative_to(visible) and pure != PurePosixPath(visible):
            root = session_root(executor, session_id) / sub
            root.mkdir(mode=0o755, exist_ok=True)
            executor.own(root)
            return files.host_path(root, visible, mount_path)
    raise files.PathRefused(f"mount_path {mount_path!r} must be a path under /workspace or /mnt")


def _make_parents(executor: Executor, session_id: str, path: Path) -> None:
    root = session_root(executor, session_id)
    for made in files.make_parents(path, root):
        made.chmod(0o755)
        executor.own(made)


def _own_tree(executor: Executor, top: Path) -> None:
    executor.own(top)
    for parent, dirs, names in os.walk(top):
        for name in (*dirs, *names):
            executor.own(Path(parent) / name)


def _networking_refusal(environment: Mapping[str, Any] | None, url: str) -> str | None:
    networking = ((environment or {}).get("config") or {}).get("networking") or {}
    if networking.get("type") == "unrestricted":
        return None
    host = urlsplit(url).hostname or ""
    if networking.get("type") == "limited" and host_allowed(
        host, [str(h) for h in networking.get("allowed_hosts") or []]
    ):
        return None
    return (
        f"the environment's networking does not allow cloning {url}: set config.networking to unrestricted, or "
        f"limited with {host!r} in allowed_hosts"
    )


def _repository_error(stderr: str) -> str:
    lowered = stderr.lower()
    if "authentication failed" in lowered or "could not read username" in lowered or " 401" in lowered:
        return "repository_authentication_error"
    if " 403" in lowered or "permission denied" in lowered:
        return "repository_forbidden_error"
    if "not found" in lowered or "does not appear to be a git repository" in lowered or "does not exist" in lowered:
        return "repository_not_found_error"
    return "repository_clone_error"


@dataclass
class Mounts:
    executor: Executor
    storage: StorageConfig
    github_base_url: str = GITHUB
    networks: Networks = ()
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    async def ensure(self, call: ServerCall) -> None:
        wanted = [
            r
            for r in call.session.doc.get("resources") or []
            if isinstance(r, Mapping) and r.get("type") in ("file", "github_repository") and r.get("id")
        ]
        if not wanted:
            return
        session_id = call.session.id
        async with self._locks.setdefault(session_id, asyncio.Lock()):
            marks = session_root(self.executor, session_id) / MOUNTED
            for resource in wanted:
                mark = marks / str(resource["id"])
                if await asyncio.to_thread(mark.exists):
                    continue
                if resource["type"] == "file":
                    await self._file(session_id, resource)
                else:
                    environment = call.environment.doc if call.environment is not None else None
                    await self._repository(session_id, resource, environment)
                marks.mkdir(mode=0o700, exist_ok=True)
                mark.touch()

    def _target(self, session_id: str, resource: Mapping[str, Any]) -> Path:
        try:
            return host_path(self.executor, session_id, str(resource.get("mount_path") or ""))
        except files.PathRefused as refused:
            raise EndsTurn(f"session resource {resource['id']}: {refused}") from None

    async def _file(self, session_id: str, resource: Mapping[str, Any]) -> None:
        target = self._target(session_id, resource)
        file_id = str(resource.get("file_id"))
        chunks = DirectoryBlobStore(self.storage.blob_dir).reader(file_id)
        if chunks is None:
            raise EndsTurn(f"session resource {resource['id']}: the file {file_id} no longer exists")
        _make_parents(self.executor, session_id, target)
        if target.is_dir():
            raise EndsTurn(f"session resource {resource['id']}: {resource.get('mount_path')} is a directory")
        with target.open("wb") as out:
            async for chunk in chunks:
                await asyncio.to_thread(out.write, chunk)
        target.chmod(0o644)
        self.executor.own(target)

    def _clone_url(self, url: str) -> str:
        if url == GITHUB or url.startswith(GITHUB + "/"):
            return self.github_base_url.rstrip("/") + url[len(GITHUB) :]
        return url

    async def _repository(
        self, session_id: str, resource: Mapping[str, Any], environment: Mapping[str, Any] | None
    ) -> None:
        url = str(resource.get("url") or "")

        def fail(message: str, kind: str = "repository_clone_error") -> EndsTurn:
            return EndsTurn(f"repository {url}: {message}", kind, repository_url=url)

        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
            raise fail("the url must be an http(s) URL without credentials (the token goes in authorization_token)")
        refusal = _networking_refusal(environment, url)
        source = self._clone_url(url)
        if refusal is None and urlsplit(source).scheme in ("http", "https"):
            refusal = await address_refusal(source, self.networks)
        if refusal is not None:
            raise fail(refusal)
        target = self._target(session_id, resource)
        occupied = any(target.iterdir()) if target.is_dir() else target.exists()
        if occupied:
            raise fail(f"{resource.get('mount_path')} already exists in the session and is not empty")
        token = resource.get("_token")
        try:
            plain = secrets.decrypt(self.storage, token) if isinstance(token, str) else None
        except secrets.SecretKeyError:
            raise fail("its authorization_token cannot be decrypted with the gateway's storage.secret_key") from None
        raw = resource.get("checkout")
        checkout: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        _make_parents(self.executor, session_id, target)
        staging = Path(tempfile.mkdtemp(prefix=".clone-", dir=target.parent))
        try:
            branch = (
                [f"--branch={checkout['name']}"] if checkout.get("type") == "branch" and checkout.get("name") else []
            )
            code, stderr = await _git(["clone", "--quiet", *branch, "--", source, str(staging / "tree")], plain)
            if code != 0:
                raise fail(f"git clone failed: {stderr[-TAIL:]}", _repository_error(stderr))
            if checkout.get("type") == "commit" and checkout.get("sha"):
                sha = str(checkout["sha"])
                code, stderr = await _git(["-C", str(staging / "tree"), "checkout", "--quiet", sha, "--"], None)
                if code != 0:
                    raise fail(f"git checkout {sha} failed: {stderr[-TAIL:]}", "repository_checkout_error")
            if target.exists():
                target.rmdir()
            (staging / "tree").rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        await asyncio.to_thread(_own_tree, self.executor, target)


async def _git(args: Sequence[str], token: str | None) -> tuple[int | None, str]:
    """``git`` with no prompt, no system or user config, and the token (if any) as a header from the environment."""
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": "/nonexistent",
        "LANG": "C.UTF-8",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_ASKPASS": "/bin/false",
    }
    if token:
        basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
        env |= {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "http.extraHeader"}
        env["GIT_CONFIG_VALUE_0"] = f"Authorization: Basic {basic}"
    process = await asyncio.create_subprocess_exec(
        "git",
        *args,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _out, err = await asyncio.wait_for(process.communicate(), timeout=CLONE_TIMEOUT_S)
    except TimeoutError:
        process.kill()
        await process.wait()
        return None, f"timed out after {CLONE_TIMEOUT_S:g}s"
    text = err.decode("utf-8", errors="replace")
    if token:
        text = text.replace(token, "[token]")
    return process.returncode, text
