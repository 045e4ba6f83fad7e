"""An environment's ``config.packages`` in its cloud sessions: ``pip`` and ``npm`` lists are installed once per
environment and package list (``<workdir>/.packages/<environment id>-<hash>``), by the executor with the
environment's network, on the first call of a session that needs them; sessions then see them read-only
(``PYTHONPATH``, ``NODE_PATH``, ``PATH``; see ``package_env``).

Installing needs the network: ``unrestricted``, or ``limited`` with ``allow_package_managers`` (the registries'
hosts are then allowed besides ``allowed_hosts``). Otherwise, or when an install fails or a list names a manager this
gateway cannot run (``apt``, ``cargo``, ``gem``, ``go``: they need root or toolchains the sandbox does not have), the
call's result is an error naming the packages and the reason, which the model reads, and a ``session.error`` with the
same message ends the turn (:mod:`gateway.runtime.failures`). Each package is installed by its own ``pip`` / ``npm``
command, so a failure names the package it stopped at."""

from __future__ import annotations

import asyncio
import hashlib
import json
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.runtime.executor import Executor, Network
from gateway.runtime.failures import EndsTurn

REGISTRY_HOSTS = ("pypi.org", "files.pythonhosted.org", "registry.npmjs.org")
UNSUPPORTED = ("apt", "cargo", "gem", "go")
DONE = ".installed"
INSTALL_TIMEOUT_S = 600.0
#: how much of a failed install's output the model reads
TAIL = 2000


class PackagesUnavailable(EndsTurn):
    pass


def lists(environment: Mapping[str, Any] | None) -> dict[str, list[str]]:
    """The non-empty package lists of the environment, by manager."""
    packages = ((environment or {}).get("config") or {}).get("packages") or {}
    out: dict[str, list[str]] = {}
    for manager, names in packages.items():
        if manager != "type" and isinstance(names, list) and names:
            out[manager] = [str(n) for n in names]
    return out


def install_network(environment: Mapping[str, Any] | None) -> Network | None:
    networking = ((environment or {}).get("config") or {}).get("networking") or {}
    if networking.get("type") == "unrestricted":
        return Network("unrestricted")
    if networking.get("type") == "limited" and networking.get("allow_package_managers"):
        hosts = tuple(str(h) for h in networking.get("allowed_hosts") or [])
        return Network("limited", hosts + REGISTRY_HOSTS)
    return None


INSTALLERS = {
    "pip": "python3 -m pip install --no-cache-dir --disable-pip-version-check --no-input "
    '--target "$GW_PACKAGES/python" {name}',
    "npm": 'npm install --no-audit --no-fund --no-save --prefix "$GW_PACKAGES/node" {name}',
}
#: printed by the install script before it stops: ``<marker> <manager> <package>``
FAILED = "__gw_install_failed__"


def command(wanted: Mapping[str, list[str]]) -> str:
    """One install per package (so a failure names its package), stopping at the first that fails."""
    for manager, listed in wanted.items():
        bad = [n for n in listed if n.startswith("-")]
        if bad:
            raise PackagesUnavailable(f"{manager} package {bad[0]!r}: package names may not start with '-'")
    steps = []
    for manager, template in INSTALLERS.items():
        for name in wanted.get(manager, []):
            quoted = shlex.quote(name)
            steps.append(f"{template.format(name=quoted)} || {{ echo {FAILED} {manager} {quoted}; exit 1; }}")
    return "\n".join(steps)


def failure(output: str) -> str:
    """The message of a failed install: the package it stopped at and the end of what the installer said."""
    before, marker, after = output.rpartition(FAILED)
    if not marker:
        return f"installing the environment's packages failed:\n{output[-TAIL:]}"
    manager, _, name = after.strip().partition(" ")
    return f"installing the environment's {manager} package {name!r} failed:\n{before[-TAIL:]}"


@dataclass
class Packages:
    executor: Executor
    root: Path
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    async def ensure(self, environment_id: str, environment: Mapping[str, Any] | None) -> Path | None:
        """The environment's package directory (installed now if needed); None when it lists no packages."""
        wanted = lists(environment)
        if not wanted:
            return None
        unsupported = [m for m in wanted if m in UNSUPPORTED or m not in INSTALLERS]
        if unsupported:
            named = "; ".join(f"{m}: {', '.join(wanted[m])}" for m in unsupported)
            raise PackagesUnavailable(
                f"the environment's packages ({named}) cannot be installed: this gateway installs pip and npm "
                "packages only (apt needs root in the sandbox, cargo/gem/go toolchains it does not have); remove "
                "them from config.packages, or run the session on a self_hosted environment whose worker has them"
            )
        digest = hashlib.sha256(json.dumps(wanted, sort_keys=True).encode()).hexdigest()[:16]
        directory = self.root / f"{environment_id}-{digest}"
        lock = self._locks.setdefault(directory.name, asyncio.Lock())
        async with lock:
            if await asyncio.to_thread((directory / DONE).exists):
                return directory
            network = install_network(environment)
            if network is None:
                named = ", ".join(f"{m} {n!r}" for m, names in wanted.items() for n in names)
                raise PackagesUnavailable(
                    f"the environment's packages ({named}) need the network to install: set its config.networking "
                    "to unrestricted, or limited with allow_package_managers: true"
                )
            await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
            done = await self.executor.install(directory, command(wanted), network=network, timeout_s=INSTALL_TIMEOUT_S)
            if done.timed_out:
                raise PackagesUnavailable(f"installing the environment's packages took over {INSTALL_TIMEOUT_S:g}s")
            if done.exit_code != 0:
                raise PackagesUnavailable(failure(done.output.decode("utf-8", errors="replace")))
            await asyncio.to_thread((directory / DONE).write_text, "")
        return directory
