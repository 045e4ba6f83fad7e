"""An environment's ``config.packages`` in its cloud sessions: ``pip``, ``npm`` and ``apt`` lists are installed once
per environment and package list (``<workdir>/.packages/<environment id>-<hash>``), by the executor with the
environment's network, on the first call of a session that needs them; sessions then see them read-only
(``PYTHONPATH``, ``NODE_PATH``, ``PATH``, ``LD_LIBRARY_PATH``; see ``package_env``).

``apt`` packages are installed without root and without touching the host's system: inside the install sandbox
(which sees the host's apt configuration, package lists and dpkg status read-only), ``apt-get -s install`` resolves
what the package needs that the host does not have (``--no-install-recommends``; packages the host has in another
version are kept at the host's version), ``apt-get download`` fetches those ``.deb`` files (checked against the
host's signed package lists) into ``apt/debs``, and ``dpkg-deb -x`` unpacks each into ``apt/root``. Maintainer
scripts do not run (no alternatives, users or generated files), and files are found only through the paths above.

Installing needs the network: ``unrestricted``, or ``limited`` with ``allow_package_managers`` (the registries'
hosts are then allowed besides ``allowed_hosts``: PyPI, npm, and the hosts of the host's apt sources). Otherwise, or
when an install fails or a list names a manager this gateway cannot run (``cargo``, ``gem``, ``go``: toolchains the
sandbox does not have), the call's result is an error naming the packages and the reason, which the model reads, and a
``session.error`` with the same message ends the turn (:mod:`gateway.runtime.failures`). Each package is installed by
its own ``pip`` / ``npm`` / ``apt-get`` command, so a failure names the package it stopped at."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import re
import shlex
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from gateway.runtime.executor import Executor, Network
from gateway.runtime.failures import EndsTurn

REGISTRY_HOSTS = ("pypi.org", "files.pythonhosted.org", "registry.npmjs.org")
UNSUPPORTED = ("cargo", "gem", "go")
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


@functools.cache
def apt_hosts() -> tuple[str, ...]:
    """The hosts of the gateway machine's apt sources (where ``apt-get download`` fetches from)."""
    try:
        done = subprocess.run(
            ["apt-get", "indextargets", "--format", "$(REPO_URI)"], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return ()
    hosts = {urlsplit(line.strip()).hostname for line in done.stdout.splitlines()}
    return tuple(sorted(h for h in hosts if h))


def install_network(environment: Mapping[str, Any] | None, managers: Iterable[str] = ()) -> Network | None:
    networking = ((environment or {}).get("config") or {}).get("networking") or {}
    if networking.get("type") == "unrestricted":
        return Network("unrestricted")
    if networking.get("type") == "limited" and networking.get("allow_package_managers"):
        hosts = tuple(str(h) for h in networking.get("allowed_hosts") or []) + REGISTRY_HOSTS
        if "apt" in managers:
            hosts += apt_hosts()
        return Network("limited", hosts)
    return None


INSTALLERS = {
    "pip": "python3 -m pip install --no-cache-dir --disable-pip-version-check --no-input "
    '--target "$GW_PACKAGES/python" {name}',
    "npm": 'npm install --no-audit --no-fund --no-save --prefix "$GW_PACKAGES/node" {name}',
    "apt": "__gw_apt {name}",
}
#: an apt package as ``apt-get install`` takes it: ``name``, ``name:arch``, ``name=version``, ``name/release``
APT_NAME = re.compile(r"^[a-z0-9][a-z0-9+.-]*(:[a-z0-9-]+)?([=/][A-Za-z0-9.+~:_-]+)?$")
#: the install script's apt step (see the module's doc): resolve against the host, download, unpack
APT_STEP = r"""
__gw_apt() {
  local a="$GW_PACKAGES/apt" plan deb
  local -a o=(-q -o "Dir::Cache=$a/cache" -o Debug::NoLocking=1)
  command -v apt-get >/dev/null || { echo "apt-get is not installed on the gateway's machine"; return 1; }
  mkdir -p "$a/cache" "$a/debs" "$a/root" "$a/new" || return 1
  if ! plan=$(apt-get "${o[@]}" -s --no-install-recommends install "$1" 2>&1); then
    printf '%s\n' "$plan" | grep -E '^(E|W):' || printf '%s\n' "$plan" | tail -n 20
    compgen -G '/var/lib/apt/lists/*Packages*' >/dev/null ||
      echo "the apt package lists of the gateway's machine are empty: run apt-get update there"
    return 1
  fi
  plan=$(printf '%s\n' "$plan" | awk '$1 == "Inst" && $3 !~ /^\[/ { v = $3; sub(/^\(/, "", v); print $2 "=" v }')
  if [ -z "$plan" ]; then echo "apt $1: nothing to install (the host has it)"; return 0; fi
  if ! (cd "$a/new" && apt-get "${o[@]}" download $plan); then
    echo "(a 404 means the apt package lists of the gateway's machine are out of date: run apt-get update there)"
    return 1
  fi
  for deb in "$a"/new/*.deb; do
    dpkg-deb -x "$deb" "$a/root" && mv -f "$deb" "$a/debs/" || return 1
  done
  echo "apt $1: installed" $plan
}
"""
#: printed by the install script before it stops: ``<marker> <manager> <package>``
FAILED = "__gw_install_failed__"


def command(wanted: Mapping[str, list[str]]) -> str:
    """One install per package (so a failure names its package), stopping at the first that fails."""
    for manager, listed in wanted.items():
        bad = [n for n in listed if n.startswith("-")]
        if bad:
            raise PackagesUnavailable(f"{manager} package {bad[0]!r}: package names may not start with '-'")
        bad = [n for n in listed if manager == "apt" and not APT_NAME.match(n)]
        if bad:
            raise PackagesUnavailable(f"apt package {bad[0]!r} is not a Debian package name (name[:arch][=version])")
    steps = [APT_STEP] if wanted.get("apt") else []
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
                f"the environment's packages ({named}) cannot be installed: this gateway installs pip, npm and apt "
                "packages only (cargo, gem and go need toolchains its sandbox does not have); remove them from "
                "config.packages (an apt package of the program may do), or run the session on a self_hosted "
                "environment whose worker has them"
            )
        digest = hashlib.sha256(json.dumps(wanted, sort_keys=True).encode()).hexdigest()[:16]
        directory = self.root / f"{environment_id}-{digest}"
        lock = self._locks.setdefault(directory.name, asyncio.Lock())
        async with lock:
            if await asyncio.to_thread((directory / DONE).exists):
                return directory
            network = await asyncio.to_thread(install_network, environment, wanted)
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
