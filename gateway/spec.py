"""Loading the OpenAPI document once, and the per-path method table used for correct ``Allow`` headers."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from re import Pattern
from typing import Any
from urllib.parse import urlsplit

import orjson
import yaml
from platformdirs import user_cache_dir
from starlette.routing import compile_path

# the C loader is ~10x faster on a multi-megabyte spec; PyYAML built without libyaml lacks it
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

HTTP_METHODS = ("get", "head", "post", "put", "patch", "delete", "options", "trace")
_PARAM = re.compile(r"{([^}:]+)}")


class SpecError(Exception):
    """The spec file is missing or is not an OpenAPI 3.0 document."""


def load_spec(path: str | Path) -> dict[str, Any]:
    """Parse the spec at ``path`` (cached per path and modification time; callers must not mutate the result)."""
    p = Path(path)
    try:
        mtime = p.stat().st_mtime_ns
    except OSError as exc:
        raise SpecError(f"cannot read OpenAPI spec {p}: {exc.strerror or exc}") from exc
    return _load_spec(str(p), mtime)


@lru_cache(maxsize=4)
def _load_spec(path: str, _mtime: int) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise SpecError(f"cannot read OpenAPI spec {path}: {exc.strerror or exc}") from exc
    doc = _parsed(data, path)
    if not isinstance(doc, dict):
        raise SpecError(f"OpenAPI spec {path} is not a mapping")
    version = str(doc.get("openapi", ""))
    if not re.fullmatch(r"3\.0\.\d+", version):
        raise SpecError(f"OpenAPI spec {path} has openapi: {version!r}; connexion 3.3 needs 3.0.x")
    if not isinstance(doc.get("paths"), dict):
        raise SpecError(f"OpenAPI spec {path} has no paths")
    return doc


def _cache_file(data: bytes) -> Path:
    return Path(user_cache_dir("litellm-gateway")) / f"spec-{hashlib.sha256(data).hexdigest()[:32]}.json"


def _parsed(data: bytes, path: str) -> Any:
    """The YAML document in ``data``. Parsing this contract's YAML takes ~0.8 s, reading the same document as JSON
    ~10 ms: the JSON form is kept in the user's cache directory, named by the YAML's SHA-256, when it is exactly the
    same document (no YAML-only types such as dates or integer keys). A cache that cannot be read or written is
    skipped."""
    cache = _cache_file(data)
    with contextlib.suppress(OSError, orjson.JSONDecodeError):
        return orjson.loads(cache.read_bytes())
    try:
        doc = yaml.load(data, Loader=_Loader)  # safe loaders only
    except yaml.YAMLError as exc:
        raise SpecError(f"OpenAPI spec {path} is not valid YAML: {exc}") from exc
    with contextlib.suppress(OSError, TypeError, orjson.JSONEncodeError):
        encoded = orjson.dumps(doc)
        if orjson.loads(encoded) == doc:
            cache.parent.mkdir(parents=True, exist_ok=True)
            partial = cache.with_suffix(f".{os.getpid()}.tmp")
            partial.write_bytes(encoded)
            partial.replace(cache)  # atomic: a concurrent start reads the old state or the whole file
    return doc


def base_path_of(doc: Mapping[str, Any]) -> str:
    """The base path connexion mounts the API at (path of the first server URL, variables filled in)."""
    servers = doc.get("servers") or []
    if not servers:
        return ""
    server = servers[0]
    variables = server.get("variables") or {}
    url = str(server.get("url", ""))
    for name, var in variables.items():
        url = url.replace("{" + name + "}", str(var.get("default", "")))
    return urlsplit(url).path.rstrip("/")


HOT_PATHS = frozenset({"/v1/messages", "/v1/messages/count_tokens", "/v1/models"})  # concrete: safe to lead


def routing_order(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``doc`` whose paths are ordered for first-match routing: concrete segments before templated ones.

    OpenAPI matches ``/v1/environments/bridge`` before ``/v1/environments/{environment_id}``; connexion registers
    routes in document order and the first full match wins, so the order must say so. The hot concrete paths
    (``HOT_PATHS``) go first: the route scan is linear, and /v1/messages was 80th of 129 (bench/native_hop.py).

    A shallow copy: connexion never changes the objects of the document it is given (it rebuilds its mappings,
    sets top-level defaults on its own copy and resolves ``$ref``s in a deep copy), so the nested objects can be
    ``doc``'s own (``tests/core/test_spec_document.py`` checks that the served document is unchanged)."""
    ordered = dict(doc)

    def key(item: tuple[str, Any]) -> tuple[bool, list[tuple[bool, str]]]:
        return item[0] not in HOT_PATHS, [(seg.startswith("{"), seg) for seg in item[0].split("/")]

    ordered["paths"] = dict(sorted(doc["paths"].items(), key=key))
    return ordered


def operation_count(doc: Mapping[str, Any]) -> int:
    """Number of operations declared in ``doc``."""
    return sum(1 for item in doc["paths"].values() for method in item if method in HTTP_METHODS)


@dataclass(frozen=True)
class AllowIndex:
    """Which methods the spec defines for a concrete request path.

    OpenAPI matches concrete paths before templated ones, so of every template that matches, the one with the fewest
    parameters decides (``/work/poll`` is GET-only even though ``/work/{work_id}`` also has POST)."""

    base_path: str
    entries: tuple[tuple[Pattern[str], int, frozenset[str]], ...]

    @classmethod
    def from_spec(cls, doc: Mapping[str, Any]) -> AllowIndex:
        entries = []
        for template, item in doc["paths"].items():
            methods = frozenset(m.upper() for m in item if m in HTTP_METHODS)
            if not methods:
                continue
            starlette_path = _PARAM.sub(lambda m: "{" + re.sub(r"\W", "_", m[1]) + "}", template)
            regex, _fmt, _convertors = compile_path(starlette_path)
            entries.append((regex, template.count("{"), methods))
        return cls(base_path=base_path_of(doc), entries=tuple(entries))

    def allowed(self, path: str) -> list[str]:
        """Methods allowed on ``path`` (a request path, base path included), in canonical order; [] if unknown."""
        if self.base_path:
            if not path.startswith(self.base_path):
                return []
            path = path[len(self.base_path) :] or "/"
        matches = [(params, methods) for regex, params, methods in self.entries if regex.match(path)]
        if not matches:
            return []
        fewest = min(params for params, _m in matches)
        found: set[str] = set()
        for params, methods in matches:
            if params == fewest:
                found |= methods
        if "GET" in found:
            found.add("HEAD")  # starlette answers HEAD on every GET route
        return [m.upper() for m in HTTP_METHODS if m.upper() in found]


_CONNEXION_VALIDATE: Any = None
_CONNEXION_INIT: Any = None


def install_uncopied_raw_spec() -> None:
    """Make connexion's ``Specification`` keep the document it is given as its raw form instead of a deep copy of
    it. connexion reads that raw form only to serve its own ``/openapi.json`` (through ``clone``, which copies it
    again), and the gateway serves the document itself (:mod:`gateway.spec_document`); the copy cost a tenth of a
    start-up and a copy of the contract in memory. Everything else is connexion's: defaults on the given mapping
    (which ``Specification.from_dict`` has just rebuilt), its validation, ``$ref`` resolution into a deep copy.
    Idempotent."""
    global _CONNEXION_INIT
    if _CONNEXION_INIT is not None:
        return
    from connexion.json_schema import resolve_refs
    from connexion.spec import Specification

    def init(self: Any, raw_spec: dict[str, Any], *, base_uri: str = "") -> None:
        self._raw_spec = raw_spec
        self._set_defaults(raw_spec)
        self._validate_spec(raw_spec)
        self._spec = resolve_refs(raw_spec, base_uri=base_uri)
        self._base_uri = base_uri

    _CONNEXION_INIT = Specification.__init__
    Specification.__init__ = init


def install_fast_spec_validation() -> None:
    """Make connexion check a spec against the OpenAPI 3.0 meta-schema with jsonschema-rs (20 ms for this contract)
    instead of python-jsonschema (6 s, 60% of the gateway's start-up). A spec that fails is handed to connexion's own
    check, so the error a user sees is connexion's. One difference: connexion also checks that ``default`` values
    match their schemas; a spec whose only fault is such a default now loads. Idempotent."""
    global _CONNEXION_VALIDATE
    if _CONNEXION_VALIDATE is not None:
        return
    import jsonschema_rs
    from connexion.spec import OpenAPISpecification

    original = OpenAPISpecification._validate_spec.__func__
    meta = jsonschema_rs.validator_for(OpenAPISpecification.openapi_schema)

    def validate(cls: Any, spec: Any) -> None:
        if not meta.is_valid(spec):
            original(cls, spec)  # raises connexion's InvalidSpecification with its usual message
            raise SpecError("the spec does not match the OpenAPI 3.0 schema")  # (if connexion disagreed)

    _CONNEXION_VALIDATE = original
    OpenAPISpecification._validate_spec = classmethod(validate)
