"""Encryption at rest for write-only secrets (vault credentials): Fernet (AES-128-CBC + HMAC-SHA256) from
``cryptography``.

The key is ``storage.secret_key`` (a urlsafe-base64 Fernet key, e.g. ``os.environ/GATEWAY_SECRET_KEY``; generate one
with ``python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"``). Without it, a
key is generated once into ``<data dir>/secret.key`` (mode 0600) and reused; two processes starting together agree
on one key (the file appears atomically: written to a private temporary file, then hard-linked into place, which
fails if another process got there first - that one's key is then read back).

Nothing here ever puts a key or a plaintext into an exception message or a log line.
"""

from __future__ import annotations

import os
import secrets as _random
import threading
import time
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from gateway.errors import GatewayError
from gateway.storage import config as storage_config_module
from gateway.storage.config import StorageConfig

KEY_FILE = "secret.key"
_LOCK = threading.Lock()
_CACHE: dict[tuple[str | None, str], Fernet] = {}


class SecretKeyError(GatewayError):
    """The secret key is unusable (misconfigured, unreadable, or not the key the data was encrypted with). A server
    problem (500); the message names the setting, never the key."""

    status = 500
    error_type = "api_error"


def key_file() -> Path:
    """Where a generated key lives: ``<data dir>/secret.key``."""
    return storage_config_module.data_dir() / KEY_FILE


def check_key(key: str | bytes, *, source: str = "storage.secret_key") -> Fernet:
    """A Fernet for ``key``, or a :class:`SecretKeyError` naming ``source`` (not the value)."""
    try:
        return Fernet(key.strip() if isinstance(key, bytes) else key.strip().encode("ascii"))
    except (ValueError, TypeError, UnicodeEncodeError):
        raise SecretKeyError(
            f"{source}: not a valid Fernet key (expected 32 bytes in urlsafe base64, 44 characters); generate one "
            'with: python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'
        ) from None


def load_or_create_key_file(path: Path) -> bytes:
    """The key stored at ``path``, created (mode 0600) if absent; safe when several processes race to create it."""
    for _ in range(50):
        try:
            data = path.read_bytes().strip()
        except FileNotFoundError:
            data = None
        except OSError as exc:
            raise SecretKeyError(f"cannot read the generated secret key file {path}: {exc.strerror}") from None
        if data:
            check_key(data, source=str(path))
            return data
        if data is None:
            created = _create_key_file(path)
            if created is not None:
                return created
        time.sleep(0.02)  # an empty file: a writer using the O_EXCL fallback is mid-write
    raise SecretKeyError(f"the generated secret key file {path} stays empty")


def _create_key_file(path: Path) -> bytes | None:
    """Write a new key to ``path``; None if another process created the file first (read that one instead)."""
    key = Fernet.generate_key()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SecretKeyError(f"cannot create {path.parent} for the generated secret key: {exc.strerror}") from None
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{_random.token_hex(8)}")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(tmp, flags, 0o600)
        try:
            os.write(fd, key + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)  # atomic and exclusive: fails if the key file exists
        except FileExistsError:
            return None
        except OSError:  # no hard links on this file system: exclusive create in place
            return _create_in_place(path, key)
        return key
    except OSError as exc:
        raise SecretKeyError(f"cannot write the generated secret key file {path}: {exc.strerror}") from None
    finally:
        try:
            tmp.unlink()
        except OSError:
            pass


def _create_in_place(path: Path, key: bytes) -> bytes | None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return None
    try:
        os.write(fd, key + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    return key


def fernet(config: StorageConfig) -> Fernet:
    """The Fernet of ``config`` (its ``secret_key``, else the generated key file), built once per key."""
    path = key_file()
    cache_key = (config.secret_key, "" if config.secret_key is not None else str(path))
    found = _CACHE.get(cache_key)
    if found is not None:
        return found
    with _LOCK:
        found = _CACHE.get(cache_key)
        if found is None:
            if config.secret_key is not None:
                found = check_key(config.secret_key)
            else:
                found = check_key(load_or_create_key_file(path), source=str(path))
            _CACHE[cache_key] = found
    return found


def encrypt(config: StorageConfig, plaintext: str) -> str:
    """``plaintext`` encrypted (a Fernet token, ASCII)."""
    return fernet(config).encrypt(plaintext.encode("utf-8", "surrogatepass")).decode("ascii")


def decrypt(config: StorageConfig, token: str) -> str:
    """The plaintext of a token from :func:`encrypt`; :class:`SecretKeyError` when the key does not open it."""
    try:
        return fernet(config).decrypt(token.encode("ascii")).decode("utf-8", "surrogatepass")
    except (InvalidToken, UnicodeError, ValueError):
        raise SecretKeyError(
            "a stored secret cannot be decrypted with the configured key (storage.secret_key or the generated key "
            "file changed since it was stored)"
        ) from None
