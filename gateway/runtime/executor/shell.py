"""The bash tool's shell per session: each call is a fresh ``bash`` (its processes end with the call) that starts in
the directory and with the exported variables the previous call ended with. ``restart`` forgets both.

The state lives in the session's ``shell`` directory (``STATE`` as the command sees it); the command itself is
read from a file there, so no quoting of the model's text is involved."""

from __future__ import annotations

from pathlib import Path

COMMAND = "command.sh"
SCRIPT = """\
__gw_state={state}
__gw_save() {{ pwd > "$__gw_state/cwd"; export -p > "$__gw_state/env"; }}
if [ -f "$__gw_state/env" ]; then . "$__gw_state/env"; fi
case ":$PATH:" in *":${{GW_PATH_PREFIX:-}}:"*) ;; *) PATH="${{GW_PATH_PREFIX:+$GW_PATH_PREFIX:}}$PATH";; esac
if [ -f "$__gw_state/cwd" ]; then cd "$(cat "$__gw_state/cwd")" 2>/dev/null || cd {root}; fi
trap __gw_save EXIT
. "$__gw_state/{command}"
"""


def script(state: str, root: str) -> str:
    """The ``bash -c`` program of one call (``state``, ``root``: paths as the command sees them)."""
    return SCRIPT.format(state=_quote(state), root=_quote(root), command=COMMAND)


def _quote(path: str) -> str:
    return "'" + path.replace("'", "'\\''") + "'"


def prepare(state_dir: Path, command: str) -> None:
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / COMMAND).write_text(command + "\n", encoding="utf-8")


def reset(state_dir: Path) -> None:
    for name in ("cwd", "env"):
        (state_dir / name).unlink(missing_ok=True)
