"""Create ``.bench-venv``: the LiteLLM proxy for ``bench/native_hop.py``, kept out of the project's venv.

    python3 bench/litellm_venv.py            # ~2-4 min, ~1 GB; prints the venv's litellm version when done

``pip install 'litellm[proxy]==1.110.2'`` fails on these machines: the extra pins ``litellm-proxy==1.110.2``, which
the package index does not carry (peers.md §8). So: install ``litellm==1.110.2``, then the other requirements of its
``proxy`` extra read from litellm's own metadata, without ``litellm-proxy`` and with ``litellm-proxy-extras`` and
``litellm-enterprise`` unpinned. Standard library only: it runs with any ``python3``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".bench-venv"
LITELLM = "litellm==1.110.2"
UNPINNED = ("litellm-proxy-extras", "litellm-enterprise")
SKIPPED = ("litellm-proxy",)

# Prints the proxy extra's requirements (one per line) as the venv's own interpreter sees them.
_READ_EXTRA = """
import importlib.metadata as md
from packaging.requirements import Requirement
for text in md.requires("litellm") or []:
    req = Requirement(text)
    if req.marker is not None and req.marker.evaluate({"extra": "proxy"}):
        print(f"{req.name}{req.specifier}")
"""


def _run(*cmd: str) -> str:
    print("+", " ".join(cmd), flush=True)
    return subprocess.run(cmd, check=True, text=True, stdout=subprocess.PIPE).stdout


def proxy_requirements(python: Path) -> list[str]:
    out = []
    for line in _run(str(python), "-c", _READ_EXTRA).split():
        name = line.split("<")[0].split(">")[0].split("=")[0].split("!")[0].split("~")[0]
        if name in SKIPPED:
            continue
        out.append(name if name in UNPINNED else line)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--venv", type=Path, default=VENV)
    args = parser.parse_args()
    python = args.venv / "bin" / "python"
    if not python.exists():
        _run(sys.executable, "-m", "venv", str(args.venv))
    _run(str(python), "-m", "pip", "install", "-q", "--upgrade", "pip", "packaging")
    _run(str(python), "-m", "pip", "install", "-q", LITELLM)
    _run(str(python), "-m", "pip", "install", "-q", LITELLM, *proxy_requirements(python))
    version = _run(str(python), "-c", "import importlib.metadata as m; print(m.version('litellm'))").strip()
    print(f"LiteLLM proxy ready: {args.venv / 'bin' / 'litellm'} (litellm {version})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
