"""Optional extras: what a slim install (``pip install litellm-gateway``, without ``[litellm]``) lacks, found on disk
without importing it.

The ``[litellm]`` extra brings litellm (translated backends, its model price map and the tokenizer files it ships) and
the packages only it needs. A slim install serves Anthropic-wire upstreams (anthropic, deepseek, mimo, mimo_auto)
and never imports litellm; a config with a translated deployment is refused with :data:`LITELLM_INSTALL`.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from gateway.settings import ConfigError

LITELLM_INSTALL = "pip install 'litellm-gateway[litellm]'"


class MissingExtra(ConfigError):
    """A configured feature needs a package of an extra that is not installed."""


def litellm_dir() -> Path | None:
    """The installed litellm package's directory (not imported), None in a slim install."""
    spec = importlib.util.find_spec("litellm")
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent


def require_litellm(what: str) -> Path:
    """litellm's package directory, else :class:`MissingExtra` saying ``what`` needs it and how to install it."""
    found = litellm_dir()
    if found is None:
        raise MissingExtra(f"{what} needs litellm, which this install lacks: {LITELLM_INSTALL}")
    return found
