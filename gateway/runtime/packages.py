"""An environment's ``config.packages`` in its cloud sessions: ``pip`` and ``npm`` lists are installed once per
environment and package list (``<workdir>/.packages/<environment id>-<hash>``), by the executor with the
environment's network, on the first call of a session that needs them; sessions then see them read-only
(``PYTHONPATH``, ``NODE_PATH``, ``PATH``; see ``package_env``).

Installing needs the network: ``unrestricted``, or ``limited`` with ``allow_package_managers`` (the registries'
hosts are then allowed besides ``allowed_hosts``). Otherwise, or when an install fails or a list names a manager this
gateway cannot run (``apt``, ``cargo``, ``gem``, ``go``: they need root or toolchains the sandbox does not have), the
call's result is an error saying so, which the model reads."""

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

REGISTRY_HOSTS = ("pypi.org", "files.pythonhosted.org", "registry.npmjs.org")
UNSUPPORTED = ("apt", "cargo", "gem", "go")
DONE = ".installed"
INSTALL_TIMEOUT_S = 600.0
#: how much of a failed install's output the model reads
TAIL = 2000


class PackagesUnavailable(Exception):
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


def command(wanted: Mapping[str, list[str]]) -> str:
    for listed in wanted.values():
        bad = [n for n in listed if n.startswith("-")]
        if bad:
            raise PackagesUnavailable(f"package names may not start with '-': {bad[0]!r}")
    steps = ["set -e"]
    if wanted.get("pip"):
        names = " ".join(shlex.quote(n) for n in wanted["pip"])
        steps.append(
            "python3 -m pip install --no-cache-dir --disable-pip-version-check --no-input "
            f'--target "$GW_PACKAGES/python" {names}'
        )
    if wanted.get("npm"):
        names = " ".join(shlex.quote(n) for n in wanted["npm"])
        steps.append(f'npm install --no-audit --no-fund --no-save --prefix "$GW_PACKAGES/node" {names}')
    return "\n".join(steps)


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
        unsupported = [m for m in wanted if m in UNSUPPORTED or m not in ("pip", "npm")]
        if unsupported:
            raise PackagesUnavailable(
                f"the environment lists {', '.join(unsupported)} packages, which this gateway's sandbox cannot "
                "install (it installs pip and npm packages)"
            )
        digest = hashlib.sha256(json.dumps(wanted, sort_keys=True).encode()).hexdigest()[:16]
        directory = self.root / f"{environment_id}-{digest}"
        lock = self._locks.setdefault(directory.name, asyncio.Lock())
        async with lock:
            if await asyncio.to_thread((directory / DONE).exists):
                return directory
            network = install_network(environment)
            if network is None:
                raise PackagesUnavailable(
                    "the environment's packages need the network to install: set its config.networking to "
                    "unrestricted, or limited with allow_package_managers: true"
                )
            await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
            done = await self.executor.install(directory, command(wanted), network=network, timeout_s=INSTALL_TIMEOUT_S)
            if done.exit_code != 0:
                tail = done.output.decode("utf-8", errors="replace")[-TAIL:]
                raise PackagesUnavailable(f"installing the environment's packages failed:\n{tail}")
            await asyncio.to_thread((directory / DONE).write_text, "")
        return directory
