"""``sandbox``: each call runs in a fresh bubblewrap (``bwrap``) sandbox.

* Filesystem: ``/usr``, ``/bin``, ``/lib*``, ``/etc`` read-only; fresh ``/proc``, ``/dev``, ``/tmp``, ``/run``;
  the session's directory at ``/workspace`` is the only writable place that outlives the call. Everything else of
  the host (``/home``, ``/root``, ``/var``, ``/work``, ``/srv``, ``/opt``, other sessions, the gateway's data) is
  not there.
* Processes: own PID, IPC and UTS namespaces; when the sandbox's init ends (the shell exited, or the gateway killed
  the call at its time limit) the kernel kills every process left in it.
* Users: when the gateway runs as root, commands run as an unprivileged user derived from the session id
  (``UID_BASE`` + a hash), with no capabilities and ``no_new_privs``, so ``RLIMIT_NPROC`` bounds a fork bomb per
  session; otherwise as the gateway's user inside a user namespace (``RLIMIT_NPROC`` is then not set: it would
  count all of that user's processes).
* Network: none (a private loopback only) unless the environment's ``config.networking`` allows it: ``limited``
  goes through the egress proxy (:mod:`gateway.runtime.executor.egress`) with ``allowed_hosts``; ``unrestricted``
  goes through it with every public host allowed, or shares the host's network when
  ``runtime.sandbox_host_network`` is true.
* Limits: ``RLIMIT_AS``, ``RLIMIT_FSIZE``, ``RLIMIT_CPU`` and the wall-clock ``tool_timeout_s``."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
import zlib
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from gateway.runtime.executor import egress, shell, spawn
from gateway.runtime.executor.base import Completed, Limits, Network, package_env, remove, session_dir

ROOT = "/workspace"
#: an environment's installed packages (read-only in sessions, see gateway/runtime/packages.py)
PACKAGES = "/opt/gw-packages"
MNT = "/mnt"
STATE = "/run/gw-shell"
#: where the sandbox finds the egress proxy's Unix socket (bound read-only)
EGRESS_SOCKET = "/run/gw-egress.sock"
UID_BASE = 200_000
UID_RANGE = 100_000
PATH = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"
READ_ONLY = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/etc")
PYTHON = "/usr/bin/python3"
#: the host's apt package lists and dpkg status, which package installs see read-only (``apt-get`` resolves and
#: downloads with them; nothing is installed on the host)
APT_STATE = ("/var/lib/apt", "/var/lib/dpkg")


def bwrap() -> str | None:
    return shutil.which("bwrap")


def _system() -> list[str]:
    args: list[str] = []
    for path in READ_ONLY:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    return args


class SandboxExecutor:
    name = "sandbox"

    def __init__(
        self, workdir: Path, limits: Limits, *, host_network: bool = False, networks: Sequence[str] = ()
    ) -> None:
        binary = bwrap()
        if binary is None:
            raise RuntimeError("bwrap (Debian package bubblewrap) is not installed")
        self.binary, self.workdir, self.limits = binary, workdir, limits
        self.host_network, self.networks = host_network, tuple(networks)
        self.as_root = os.geteuid() == 0
        self.proxies: dict[str, egress.EgressProxy] = {}
        #: the proxies' sockets: a short path of its own (a Unix socket path has at most 107 bytes)
        self.sockets: Path | None = None
        self.hosts: dict[str, tuple[str, ...]] = {}
        #: package installs see the host's apt state read-only (for apt-get, gateway/runtime/packages.py)
        self.apt_state: list[str] = []
        for path in (p for p in APT_STATE if os.path.isdir(p)):
            if not self.apt_state:
                self.apt_state += ["--perms", "0755", "--dir", "/var", "--perms", "0755", "--dir", "/var/lib"]
            self.apt_state += ["--ro-bind", path, path]

    # --- the session's directory --------------------------------------------------------------------------------
    def uid(self, session_id: str) -> int | None:
        if not self.as_root:
            return None
        return UID_BASE + zlib.crc32(session_id.encode()) % UID_RANGE

    def _owner(self, session_id: str) -> tuple[int, int] | None:
        uid = self.uid(session_id)
        return None if uid is None else (uid, uid)

    def files(self, session_id: str) -> Path:
        root = session_dir(self.workdir, session_id)
        path = root / "files"
        if not path.is_dir():
            path.mkdir(parents=True, exist_ok=True)
            os.chmod(root, 0o700)
            (root / "shell").mkdir(exist_ok=True)
            owner = self._owner(session_id)
            if owner is not None:
                for made in (path, root / "shell"):
                    os.chown(made, *owner)
        return path

    def visible_root(self, session_id: str) -> str:
        return ROOT

    def own(self, path: Path) -> None:
        owner = self._owner(path.relative_to(self.workdir).parts[0])
        if owner is not None:
            os.chown(path, *owner, follow_symlinks=False)

    # --- one call -----------------------------------------------------------------------------------------------
    async def run(
        self, session_id: str, command: str, *, network: Network, timeout_s: float, packages: Path | None = None
    ) -> Completed:
        files = self.files(session_id)
        state = files.parent / "shell"
        shell.prepare(state, command)
        self.own(state / shell.COMMAND)
        binds = ["--bind", str(files), ROOT, "--bind", str(state), STATE]
        if (files.parent / "mnt").is_dir():  # session resources mounted under /mnt (gateway/runtime/resources.py)
            binds += ["--bind", str(files.parent / "mnt"), MNT]
        env = {"HOME": ROOT}
        if packages is not None:
            binds += ["--ro-bind", str(packages), PACKAGES]
            env |= package_env(PACKAGES, apt=(packages / "apt").is_dir())
        program = shell.script(STATE, ROOT)
        return await self._call(session_id, binds, ROOT, program, env, network, timeout_s, self.uid(session_id))

    async def install(self, directory: Path, command: str, *, network: Network, timeout_s: float) -> Completed:
        """Run ``command`` with ``directory`` writable at ``$GW_PACKAGES`` (an environment's package cache)."""
        key = directory.name
        uid = None if not self.as_root else UID_BASE + UID_RANGE + zlib.crc32(key.encode()) % UID_RANGE
        if uid is not None:
            os.chown(directory, uid, uid)
        binds = ["--bind", str(directory), PACKAGES]
        binds += self.apt_state
        env = {"HOME": "/tmp", "GW_PACKAGES": PACKAGES}
        return await self._call(key, binds, PACKAGES, command, env, network, timeout_s, uid)

    async def _call(
        self,
        key: str,
        binds: list[str],
        chdir: str,
        program: str,
        extra_env: dict[str, str],
        network: Network,
        timeout_s: float,
        uid: int | None,
    ) -> Completed:
        env = {"PATH": PATH, "LANG": "C.UTF-8", "TERM": "dumb", **extra_env}
        args = [self.binary, "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
        args += ["--die-with-parent", "--new-session"]
        if not self.as_root:
            args.append("--unshare-user")
        proxied = network.mode == "limited" or (network.mode == "unrestricted" and not self.host_network)
        if not (network.mode == "unrestricted" and self.host_network):
            args.append("--unshare-net")
        args += _system()
        args += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--tmpfs", "/tmp", "--tmpfs", "/run"]
        args += ["--perms", "0755", "--dir", "/opt", *binds, "--chdir", chdir]
        if proxied:
            hosts = network.allowed_hosts if network.mode == "limited" else (egress.ANY_HOST,)
            socket_path = await self._proxy(key, hosts, uid)
            args += ["--ro-bind", str(socket_path), EGRESS_SOCKET]
            proxy = f"http://127.0.0.1:{egress.PORT}"
            env |= {"GW_EGRESS_SOCKET": EGRESS_SOCKET, "GW_FORWARDER": egress.FORWARDER}
            env |= {name: proxy for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")}
            program = _FORWARD + program
        if uid is not None:
            args += ["--", "/usr/bin/setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]
            args += ["--no-new-privs", "--inh-caps=-all", "--bounding-set=-all"]
        else:
            args.append("--")
        args += ["/bin/bash", "--noprofile", "--norc", "-c", program]
        limits = replace(self.limits, timeout_s=timeout_s)
        preexec = spawn.rlimits(limits, processes=self.as_root)
        return await spawn.run(args, cwd="/", env=env, limits=limits, timeout_s=timeout_s, preexec=preexec)

    async def _proxy(self, key: str, hosts: tuple[str, ...], uid: int | None) -> Path:
        """The egress proxy of ``key`` (a session, or a package install), started on first use; its socket belongs
        to ``uid`` (the user the call runs as)."""
        session_id = key
        self.hosts[session_id] = hosts
        proxy = self.proxies.get(session_id)
        if proxy is None:
            if self.sockets is None:
                self.sockets = Path(tempfile.mkdtemp(prefix="gw-egress-"))
                os.chmod(self.sockets, 0o711)
            path = self.sockets / f"{session_dir(Path(), session_id)}.sock"
            proxy = egress.EgressProxy(path, lambda: self.hosts.get(session_id, ()), self.networks)
            await proxy.start(None if uid is None else (uid, uid))
            self.proxies[session_id] = proxy
        return proxy.path

    async def reset(self, session_id: str) -> None:
        shell.reset(session_dir(self.workdir, session_id) / "shell")

    async def delete(self, session_id: str) -> None:
        proxy = self.proxies.pop(session_id, None)
        self.hosts.pop(session_id, None)
        if proxy is not None:
            await proxy.close()
        await asyncio.to_thread(remove, session_dir(self.workdir, session_id))

    async def close(self) -> None:
        proxies, self.proxies = list(self.proxies.values()), {}
        for proxy in proxies:
            await proxy.close()
        if self.sockets is not None:
            remove(self.sockets)


#: start the forwarder to the egress proxy and wait (up to 2 s) until it listens
_FORWARD = f"""\
if [ -x {PYTHON} ]; then {PYTHON} -I -c "$GW_FORWARDER" </dev/null >/dev/null 2>&1 & fi
unset GW_FORWARDER GW_EGRESS_SOCKET
for __gw_i in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/{egress.PORT}) 2>/dev/null && break; sleep 0.01; done
unset __gw_i
"""


def probe() -> str | None:
    """Why the sandbox cannot run here (None: it can): one ``bwrap`` call with the namespaces :meth:`run` uses."""
    binary = bwrap()
    if binary is None:
        return "bwrap is not installed (Debian package bubblewrap)"
    args = [binary, "--unshare-pid", "--unshare-net", "--die-with-parent"]
    if os.geteuid() != 0:
        args.append("--unshare-user")
    args += [*_system(), "--proc", "/proc", "--dev", "/dev", "--", "/bin/true"]
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"bwrap failed to start: {error}"
    if done.returncode != 0:
        return f"bwrap failed: {done.stderr.strip()[:300]}"
    return None
