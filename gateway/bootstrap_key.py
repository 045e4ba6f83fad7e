"""A gateway key for a server that must listen on every address (a container) but has no ``gateway.api_keys``.

``litellm-gateway serve --key-file FILE`` (or ``GATEWAY_KEY_FILE``): when the config names no API key, the gateway
takes one, in this order, from

1. the environment variable ``GATEWAY_KEY`` (at least 16 characters), or
2. ``FILE``, when it exists (the key written there on an earlier start), or
3. a new random key, written to ``FILE`` (mode 0600) and printed once, on stderr, at this first start.

So local mode (no keys, loopback only) is never entered by a server that was given a key file, and binding
``0.0.0.0`` is allowed. With keys in the config, the file and ``GATEWAY_KEY`` are not read. Only the key's SHA-256
is kept in :class:`~gateway.settings.Settings`; the key is never logged.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from gateway.settings import MIN_KEY_LENGTH, ApiKey, ConfigError, Settings, hash_key

KEY_ENV = "GATEWAY_KEY"
KEY_FILE_ENV = "GATEWAY_KEY_FILE"
KEY_NAME = "bootstrap"
KEY_PREFIX = "sk-gw-"


@dataclasses.dataclass(frozen=True)
class BootstrapKey:
    """Where the key came from (``environment``, ``file`` or ``generated``) and, when generated, the key itself
    (to be printed once)."""

    source: str
    path: Path | None
    generated: str | None = dataclasses.field(default=None, repr=False)


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def _read_key_file(path: Path) -> str:
    try:
        key = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--key-file {path}: cannot read: {type(exc).__name__}") from exc
    if len(key) < MIN_KEY_LENGTH:
        raise ConfigError(f"--key-file {path}: holds no key of at least {MIN_KEY_LENGTH} characters")
    return key


def _write_key_file(path: Path, key: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise ConfigError(f"--key-file {path}: cannot create: {exc.strerror or type(exc).__name__}") from exc
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(key + "\n")


def with_bootstrap_key(
    settings: Settings, key_file: Path, environ: Mapping[str, str] | None = None
) -> tuple[Settings, BootstrapKey | None]:
    """``settings`` with one more API key (name ``bootstrap``, workspace ``default``) when it has none; see the
    module docstring for where the key comes from. Returns the settings unchanged and None when keys exist."""
    if not settings.local_mode:
        return settings, None
    env = os.environ if environ is None else environ
    from_env = env.get(KEY_ENV, "")
    if from_env:
        if len(from_env) < MIN_KEY_LENGTH or from_env != from_env.strip():
            raise ConfigError(f"{KEY_ENV}: must be at least {MIN_KEY_LENGTH} characters without surrounding whitespace")
        key, info = from_env, BootstrapKey("environment", None)
    elif key_file.exists():
        key, info = _read_key_file(key_file), BootstrapKey("file", key_file)
    else:
        key = new_key()
        _write_key_file(key_file, key)
        info = BootstrapKey("generated", key_file, generated=key)
    api_key = ApiKey(key_sha256=hash_key(key), name=KEY_NAME, workspace="default")
    return dataclasses.replace(settings, api_keys=(api_key,)), info


def announcement(info: BootstrapKey) -> list[str]:
    """What ``serve`` prints on stderr: where the key came from; the key itself only when it was just generated."""
    if info.source == "environment":
        return [f"gateway key: from the environment variable {KEY_ENV}"]
    if info.source == "file":
        return [f"gateway key: read from {info.path}"]
    return [
        f"gateway key: none configured, so one was generated and stored in {info.path} (mode 0600).",
        "It is shown only now; send it as x-api-key or Authorization: Bearer:",
        f"GATEWAY_KEY={info.generated}",
    ]
