"""Gateway settings: a frozen dataclass loaded from YAML.

The file has a ``gateway:`` section, validated strictly here (unknown keys are errors), and the other top-level
sections the gateway implements (LiteLLM-style ``model_list:``, ``router_settings:``, ``routing:``, ``passthrough:``,
``storage:``), which are kept, read-only, in ``Settings.raw`` for the parts of the gateway that read them (each
validates its own section strictly). Any other top-level key is an error that names it: LiteLLM proxy sections this
gateway does not implement (``litellm_settings:`` …) are refused rather than silently ignored. LiteLLM's
``general_settings.master_key`` is one more gateway API key (name ``master_key``, workspace ``default``).
A value ``os.environ/NAME`` is read from the environment.
Gateway API keys are hashed on load: ``Settings`` holds SHA-256 digests only, never a plaintext key.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

MiB = 1024 * 1024
PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_CONFIG_PATH = PACKAGE_DIR / "default_config.yaml"
DEFAULT_SPEC_PATH = Path(__file__).resolve().parents[1] / "spec" / "openapi.yaml"
LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")
ENV_PREFIX = "os.environ/"
MIN_KEY_LENGTH = 16

_SIZE = re.compile(r"^\s*(\d+)\s*(b|kb|kib|mb|mib|gb|gib)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"b": 1, "kb": 1000, "kib": 1024, "mb": 1000**2, "mib": MiB, "gb": 1000**3, "gib": 1024 * MiB}
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
_DOTTED = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
_T = TypeVar("_T")
# top-level sections besides ``gateway:`` (each read by its own part of the gateway)
SECTIONS = (
    "model_list",
    "router_settings",
    "routing",
    "passthrough",
    "storage",
    "runtime",
    "server",
    "general_settings",
    "ops",
)
# LiteLLM proxy sections the gateway does not implement: refused by name
LITELLM_ONLY_SECTIONS = (
    "litellm_settings",
    "environment_variables",
    "guardrails",
    "callback_settings",
    "credential_list",
    "mcp_servers",
    "search_tools",
    "vector_store_registry",
    "files_settings",
    "finetune_settings",
    "assistant_settings",
)
GENERAL_SETTINGS = ("master_key",)


class ConfigError(ValueError):
    """A configuration problem; the message starts with the field path, e.g. ``gateway.port: ...``."""


@dataclass(frozen=True)
class ApiKey:
    """One gateway API key: its SHA-256 (lowercase hex) and who it belongs to."""

    key_sha256: str
    name: str
    workspace: str = "default"


class FrozenMap(Mapping[str, Any]):
    """A read-only mapping (what ``Settings.raw`` holds); copying returns itself, so ``dataclasses.asdict`` works."""

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, Any] | None = None) -> None:
        self._data = dict(data or {})

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"FrozenMap({self._data!r})"

    def __copy__(self) -> FrozenMap:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> FrozenMap:
        return self


def _frozen_mapping() -> Mapping[str, Any]:
    return FrozenMap()


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 4000
    api_keys: tuple[ApiKey, ...] = ()
    validate_responses: bool = False
    max_request_body_bytes: int = 32 * MiB
    max_upload_body_bytes: int = 500 * MiB
    spec_path: Path = DEFAULT_SPEC_PATH
    log_level: str = "info"
    handlers_package: str = "handlers"
    # Other top-level sections of the config file (model_list, router_settings, routing, ...), deeply read-only.
    # Not in repr: upstream credentials may live there.
    raw: Mapping[str, Any] = field(default_factory=_frozen_mapping, repr=False, hash=False)
    config_path: Path | None = None

    @property
    def local_mode(self) -> bool:
        """No gateway API keys configured: every request is accepted, and the CLI binds to loopback only."""
        return not self.api_keys


def hash_key(plaintext: str) -> str:
    """SHA-256 hex digest of an API key, as stored in ``Settings``."""
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


def load_settings(path: str | Path | None = None, *, environ: Mapping[str, str] | None = None) -> Settings:
    """Load settings from the YAML file at ``path`` (``None``: the embedded ``default_config.yaml``)."""
    source = DEFAULT_CONFIG_PATH if path is None else Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise ConfigError(f"{source}: cannot read config file: {reason}") from exc
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        # Only the problem and position: PyYAML's full message quotes the offending line, which may hold a key.
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise ConfigError(f"{source}: invalid YAML: {problem}{where}") from exc
    return settings_from_mapping(
        doc,
        base_dir=source.resolve().parent,
        environ=os.environ if environ is None else environ,
        config_path=source.resolve(),
    )


def settings_from_mapping(
    doc: Any,
    *,
    base_dir: Path | None = None,
    environ: Mapping[str, str] | None = None,
    config_path: Path | None = None,
) -> Settings:
    """Build ``Settings`` from an already parsed config document (relative paths are resolved from ``base_dir``)."""
    env = os.environ if environ is None else environ
    if doc is None:
        doc = {}
    if not isinstance(doc, Mapping):
        raise ConfigError("<root>: the config file must be a mapping")
    section = doc.get("gateway")
    if section is None:
        section = {}
    if not isinstance(section, Mapping):
        raise ConfigError("gateway: must be a mapping")
    return ValueParser(env, base_dir or Path.cwd()).settings(section, doc, config_path)


class ValueParser:
    """Config value readers shared by every config section: ``os.environ/NAME`` resolution, strings, sizes,
    booleans, paths, mappings. Errors are ConfigError naming the field path."""

    def __init__(self, environ: Mapping[str, str], base_dir: Path) -> None:
        self.environ = environ
        self.base_dir = base_dir

    def settings(self, section: Mapping[Any, Any], doc: Mapping[Any, Any], config_path: Path | None) -> Settings:
        known = {
            "host": self.host,
            "port": self.port,
            "api_keys": self.api_keys,
            "validate_responses": self.boolean,
            "max_request_body_bytes": self.size,
            "max_upload_body_bytes": self.size,
            "spec_path": self.path,
            "log_level": self.log_level,
            "handlers_package": self.package,
        }
        values: dict[str, Any] = {}
        for key, value in section.items():
            parse: Callable[[Any, str], Any] | None = known.get(key) if isinstance(key, str) else None
            if parse is None:
                raise ConfigError(f"gateway.{key}: unknown key (known: {', '.join(known)})")
            values[key] = parse(value, f"gateway.{key}")
        self.sections(doc)
        master = self.master_key(doc.get("general_settings"))
        if master is not None:
            keys: tuple[ApiKey, ...] = values.get("api_keys", ())
            if any(k.key_sha256 == master.key_sha256 for k in keys):
                raise ConfigError("general_settings.master_key: same key as one of gateway.api_keys")
            values["api_keys"] = (*keys, master)
        raw = {str(k): _freeze(v) for k, v in doc.items() if k != "gateway"}
        return Settings(**values, raw=FrozenMap(raw), config_path=config_path)

    def sections(self, doc: Mapping[Any, Any]) -> None:
        """Every top-level key is a section the gateway reads; LiteLLM-only sections are refused by name."""
        for key in doc:
            if key == "gateway" or key in SECTIONS:
                continue
            if key in LITELLM_ONLY_SECTIONS:
                raise ConfigError(
                    f"{key}: a LiteLLM proxy section this gateway does not implement; remove it "
                    f"(sections read here: gateway, {', '.join(SECTIONS)})"
                )
            raise ConfigError(f"{key}: unknown section (known: gateway, {', '.join(SECTIONS)})")

    def master_key(self, value: Any) -> ApiKey | None:
        """``general_settings.master_key`` (LiteLLM's admin key) as a gateway API key; no other key is read there."""
        section = self.mapping(value, "general_settings")
        for key in section:
            if key not in GENERAL_SETTINGS:
                raise ConfigError(
                    f"general_settings.{key}: a LiteLLM proxy setting this gateway does not implement "
                    f"(known: {', '.join(GENERAL_SETTINGS)})"
                )
        if section.get("master_key") is None:
            return None
        digest = self.key_digest(section["master_key"], "general_settings.master_key")
        return ApiKey(key_sha256=digest, name="master_key", workspace="default")

    # --- scalar helpers -------------------------------------------------------------------------------------------
    def env(self, value: Any, path: str) -> Any:
        """Resolve ``os.environ/NAME``; other values are returned unchanged."""
        if not (isinstance(value, str) and value.startswith(ENV_PREFIX)):
            return value
        name = value[len(ENV_PREFIX) :]
        if not name:
            raise ConfigError(f"{path}: '{ENV_PREFIX}' needs a variable name")
        resolved = self.environ.get(name)
        if resolved is None:
            raise ConfigError(f"{path}: environment variable {name} is not set")
        if resolved == "":
            raise ConfigError(f"{path}: environment variable {name} is empty")
        return resolved

    def string(self, value: Any, path: str) -> str:
        value = self.env(value, path)
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{path}: must be a non-empty string")
        return value.strip()

    def host(self, value: Any, path: str) -> str:
        return self.string(value, path)

    def port(self, value: Any, path: str) -> int:
        value = self.env(value, path)
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 65535:
            raise ConfigError(f"{path}: must be an integer between 0 and 65535")
        return value

    def boolean(self, value: Any, path: str) -> bool:
        value = self.env(value, path)
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in {"true", "1", "yes", "on", "false", "0", "no", "off"}:
            return value.strip().lower() in {"true", "1", "yes", "on"}
        raise ConfigError(f"{path}: must be true or false")

    def size(self, value: Any, path: str) -> int:
        value = self.env(value, path)
        if isinstance(value, str):
            m = _SIZE.match(value)
            if m is not None:
                value = int(m[1]) * _SIZE_UNITS[(m[2] or "b").lower()]
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ConfigError(f"{path}: must be a positive number of bytes (e.g. 10485760 or '10 MiB')")
        return value

    def path(self, value: Any, path: str) -> Path:
        p = Path(self.string(value, path)).expanduser()
        return (p if p.is_absolute() else self.base_dir / p).resolve()

    def optional_string(self, value: Any, path: str) -> str | None:
        return None if value is None else self.string(value, path)

    def mapping(self, value: Any, path: str, known: tuple[str, ...] | None = None) -> Mapping[str, Any]:
        """A mapping (None reads as empty); with ``known``, any other key is an error."""
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise ConfigError(f"{path}: must be a mapping")
        if known is not None:
            for key in value:
                if key not in known:
                    raise ConfigError(f"{path}.{key}: unknown key (known: {', '.join(known)})")
        return value

    def listing(self, value: Any, path: str) -> list[Any]:
        """A list (None reads as empty; Settings.raw holds lists frozen as tuples)."""
        if value is None:
            return []
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{path}: must be a list")
        return list(value)

    def number(self, value: Any, path: str, default: float) -> float:
        """A non-negative number (None reads as ``default``)."""
        if value is None:
            return default
        value = self.env(value, path)
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ConfigError(f"{path}: must be a non-negative number")
        return float(value)

    def log_level(self, value: Any, path: str) -> str:
        level = self.string(value, path).lower()
        if level not in LOG_LEVELS:
            raise ConfigError(f"{path}: must be one of {', '.join(LOG_LEVELS)}")
        return level

    def package(self, value: Any, path: str) -> str:
        name = self.string(value, path)
        if not _DOTTED.match(name):
            raise ConfigError(f"{path}: must be a dotted Python package name")
        return name

    # --- api keys ---------------------------------------------------------------------------------------------------
    def api_keys(self, value: Any, path: str) -> tuple[ApiKey, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            raise ConfigError(f"{path}: must be a list of {{key|key_sha256, name, workspace}} entries")
        keys: list[ApiKey] = []
        seen: dict[str, int] = {}
        for i, entry in enumerate(value):
            item_path = f"{path}[{i}]"
            key = self.api_key(entry, item_path)
            if key.key_sha256 in seen:
                raise ConfigError(f"{item_path}: same key as {path}[{seen[key.key_sha256]}]")
            seen[key.key_sha256] = i
            keys.append(key)
        return tuple(keys)

    def key_digest(self, value: Any, path: str) -> str:
        """SHA-256 of a plaintext key (or ``os.environ/NAME``), at least MIN_KEY_LENGTH characters."""
        plaintext = self.env(value, path)
        if not isinstance(plaintext, str):
            raise ConfigError(f"{path}: must be a string")
        if len(plaintext) < MIN_KEY_LENGTH or plaintext != plaintext.strip():
            raise ConfigError(f"{path}: must be at least {MIN_KEY_LENGTH} characters without surrounding whitespace")
        return hash_key(plaintext)

    def api_key(self, entry: Any, path: str) -> ApiKey:
        if not isinstance(entry, Mapping):
            raise ConfigError(f"{path}: must be a mapping with key (or key_sha256), name and workspace")
        allowed = {"key", "key_sha256", "name", "workspace"}
        for k in entry:
            if k not in allowed:
                raise ConfigError(f"{path}.{k}: unknown key (known: {', '.join(sorted(allowed))})")
        if ("key" in entry) == ("key_sha256" in entry):
            raise ConfigError(f"{path}: give exactly one of key or key_sha256")
        if "key" in entry:
            digest = self.key_digest(entry["key"], f"{path}.key")
        else:
            digest = self.string(entry["key_sha256"], f"{path}.key_sha256")
            if not _HEX64.match(digest):
                raise ConfigError(f"{path}.key_sha256: must be 64 hexadecimal characters (a SHA-256 digest)")
            digest = digest.lower()
        if "name" not in entry:
            raise ConfigError(f"{path}.name: required")
        name = self.string(entry["name"], f"{path}.name")
        workspace = self.string(entry["workspace"], f"{path}.workspace") if "workspace" in entry else "default"
        return ApiKey(key_sha256=digest, name=name, workspace=workspace)


def _freeze(value: _T) -> _T:
    """Deep read-only copy: mappings become FrozenMap, lists become tuples."""
    if isinstance(value, Mapping):
        return FrozenMap({str(k): _freeze(v) for k, v in value.items()})  # type: ignore[return-value]
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)  # type: ignore[return-value]
    return value
