"""Read the endpoint surface of the installed official ``anthropic`` SDK.

The SDK's resource classes are regular: every public method ends in one call to
``self._get/_post/_delete/_get_api_list`` with a path template, a query dict, a body dict and a ``cast_to`` model.
This module reads that structure with :mod:`ast` (paths, wire names, models) and the real annotations with
:func:`typing.get_type_hints` (types), so the spec follows whatever SDK version is installed.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# module path under anthropic/resources (without .py) + class -> (gateway resource name, implementation status)
RESOURCES: dict[str, tuple[str, str]] = {
    "messages/messages:Messages": ("messages", "native"),
    "beta/messages/messages:Messages": ("messages", "native"),
    "models:Models": ("models", "native"),
    "beta/models:Models": ("models", "native"),
    "messages/batches:Batches": ("message_batches", "custom"),
    "beta/messages/batches:Batches": ("message_batches", "custom"),
    "files:Files": ("files", "custom"),
    "beta/files:Files": ("files", "custom"),
    "skills/skills:Skills": ("skills", "custom"),
    "beta/skills/skills:Skills": ("skills", "custom"),
    "skills/versions:Versions": ("skill_versions", "custom"),
    "beta/skills/versions:Versions": ("skill_versions", "custom"),
    "user_profiles/user_profiles:UserProfiles": ("user_profiles", "custom"),
    "beta/user_profiles/user_profiles:UserProfiles": ("user_profiles", "custom"),
    "user_profiles/action_urls:ActionURLs": ("user_profile_action_urls", "custom"),
    "beta/user_profiles/action_urls:ActionURLs": ("user_profile_action_urls", "custom"),
    "beta/user_profiles/providers/google/data_controls:DataControls": ("user_profile_data_controls", "custom"),
    "beta/agents/agents:Agents": ("agents", "custom"),
    "beta/agents/versions:Versions": ("agent_versions", "custom"),
    "beta/environments/environments:Environments": ("environments", "custom"),
    "beta/environments/work:Work": ("environment_work", "custom"),
    "beta/sessions/sessions:Sessions": ("sessions", "custom"),
    "beta/sessions/events:Events": ("session_events", "custom"),
    "beta/sessions/resources:Resources": ("session_resources", "custom"),
    "beta/sessions/threads/threads:Threads": ("session_threads", "custom"),
    "beta/sessions/threads/events:Events": ("session_thread_events", "custom"),
    "beta/deployments:Deployments": ("deployments", "custom"),
    "beta/deployment_runs:DeploymentRuns": ("deployment_runs", "custom"),
    "beta/vaults/vaults:Vaults": ("vaults", "custom"),
    "beta/vaults/credentials:Credentials": ("vault_credentials", "custom"),
    "beta/memory_stores/memory_stores:MemoryStores": ("memory_stores", "custom"),
    "beta/memory_stores/memories:Memories": ("memories", "custom"),
    "beta/memory_stores/memory_versions:MemoryVersions": ("memory_versions", "custom"),
    "beta/dreams:Dreams": ("dreams", "custom"),
    "beta/tunnels/tunnels:Tunnels": ("tunnels", "custom"),
    "beta/tunnels/certificates:Certificates": ("tunnel_certificates", "custom"),
    # Admin API: only the two reports the gateway answers from its own spend records (issue 14)
    "beta/organization/analytics/usage_report:UsageReport": ("usage_report", "custom"),
    "beta/organization/analytics/cost_report:CostReport": ("cost_report", "custom"),
}

# SDK methods that are client-side helpers over an endpoint another method already describes
SKIP_METHODS = {"parse", "create_and_poll", "upload_and_poll"}
SKIP_HELPERS = {"Messages": {"stream"}}

HTTP_CALLS = {
    "_get": "get",
    "_post": "post",
    "_delete": "delete",
    "_patch": "patch",
    "_put": "put",
    "_get_api_list": "get",
}


@dataclass
class Param:
    wire: str  # name on the wire (query key, header name, body key)
    python: str  # SDK keyword argument
    annotation: Any
    required: bool


@dataclass
class Variant:
    """One SDK method (stable or beta) that calls an endpoint."""

    module: str
    cls: str
    method: str
    beta: bool
    response: Any  # the model class, or None for binary / untyped
    page: str | None  # SyncPage | SyncPageCursor | SyncBidirectionalPageCursor
    optional_response: bool
    binary: bool
    stream_event: Any  # union of stream event models when the method can stream
    body: list[Param] = field(default_factory=list)
    multipart: bool = False
    query: list[Param] = field(default_factory=list)
    headers: list[Param] = field(default_factory=list)
    path_params: list[Param] = field(default_factory=list)
    doc: str = ""


@dataclass
class Endpoint:
    method: str
    path: str
    resource: str
    status: str
    verb: str
    variants: list[Variant] = field(default_factory=list)

    @property
    def operation_id(self) -> str:
        return f"{self.status}.{self.resource}.{self.verb}"

    @property
    def primary(self) -> Variant:
        """The richest variant: beta (a superset on shared paths) when there is one."""
        return sorted(self.variants, key=lambda v: not v.beta)[0]


def _sdk_root() -> Path:
    import anthropic

    return Path(anthropic.__file__).parent


def _const(node: ast.AST) -> Any:
    return node.value if isinstance(node, ast.Constant) else None


def _first_dict(node: ast.AST | None) -> ast.Dict | None:
    if node is None:
        return None
    for sub in ast.walk(node):
        if isinstance(sub, ast.Dict):
            return sub
    return None


def _dict_pairs(d: ast.Dict | None) -> list[tuple[str, str]]:
    """(wire key, python name) pairs of a literal ``{"key": name}`` dict; nested spreads are ignored."""
    pairs: list[tuple[str, str]] = []
    if d is None:
        return pairs
    for k, v in zip(d.keys, d.values, strict=True):
        key = _const(k) if k is not None else None
        if isinstance(key, str) and isinstance(v, ast.Name):
            pairs.append((key, v.id))
        elif isinstance(key, str) and isinstance(v, ast.IfExp) and isinstance(v.body, ast.Call):
            pairs.append((key, "betas"))
    return pairs


def _path_of(arg: ast.AST) -> str | None:
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return arg.value
    if isinstance(arg, ast.Call) and arg.args and isinstance(arg.args[0], ast.Constant):
        value = arg.args[0].value
        return value if isinstance(value, str) else None
    return None


def _span_route(call: ast.Call) -> str | None:
    for sub in ast.walk(call):
        if isinstance(sub, ast.keyword) and sub.arg == "span_route":
            value = _const(sub.value)
            return value if isinstance(value, str) else None
    return None


def _find_call(fn: ast.FunctionDef) -> ast.Call | None:
    for node in ast.walk(fn):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in HTTP_CALLS:
            if isinstance(node.func.value, ast.Name) and node.func.value.id == "self":
                return node
    return None


def _kw(call: ast.Call, name: str) -> ast.AST | None:
    for kw in call.keywords:
        if kw.arg == name:
            return kw.value
    return None


def _assigned(fn: ast.FunctionDef, name: str) -> ast.AST | None:
    for node in ast.walk(fn):
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return node.value
    return None


def _unwrap_optional_omit(annotation: Any) -> tuple[Any, bool]:
    """Strip ``Omit``/``NotGiven`` from a signature annotation; report whether it was optional."""
    from anthropic._types import NotGiven, Omit

    origin = typing.get_origin(annotation)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        args = [a for a in typing.get_args(annotation) if a not in (Omit, NotGiven)]
        omitted = len(args) != len(typing.get_args(annotation))
        if len(args) == 1:
            return args[0], omitted
        return typing.Union[tuple(args)], omitted  # noqa: UP007 - built at run time from a tuple
    return annotation, False


def _model_of(module: Any, node: ast.AST | None) -> Any:
    if node is None:
        return None
    if isinstance(node, ast.Name):
        return getattr(module, node.id, None)
    if isinstance(node, ast.Subscript):  # Optional[Model]
        return _model_of(module, node.slice)
    if isinstance(node, ast.Attribute):
        return getattr(module, node.attr, None)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "cast":
        return _model_of(module, node.args[1])
    return None


def _page_of(node: ast.AST | None, module: Any) -> tuple[str | None, Any]:
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
        return node.value.id, _model_of(module, node.slice)
    return None, None


def _variant(module_key: str, module: Any, cls: type, fn: ast.FunctionDef) -> tuple[str, str, Variant] | None:
    call = _find_call(fn)
    if call is None:
        return None
    http = HTTP_CALLS[call.func.attr]  # type: ignore[attr-defined]
    method_kw = _kw(call, "method")
    if isinstance(method_kw, ast.Constant):
        http = str(method_kw.value).lower()
    path = _span_route(call) or _path_of(call.args[0])
    if path is None:
        return None
    if "results_url" in ast.unparse(call.args[0]):
        path = "/v1/messages/batches/{message_batch_id}/results"
    hints = typing.get_type_hints(getattr(cls, fn.name), include_extras=True)
    sig = inspect.signature(getattr(cls, fn.name))

    def param(wire: str, python: str) -> Param:
        annotation, omitted = _unwrap_optional_omit(hints.get(python, Any))
        default = sig.parameters[python].default if python in sig.parameters else None
        return Param(wire, python, annotation, required=not omitted and default is inspect.Parameter.empty)

    options = _kw(call, "options")
    query_node = _kw(options, "query") if isinstance(options, ast.Call) else None
    query = [param(w, p) for w, p in _dict_pairs(_first_dict(query_node)) if p in sig.parameters]
    body_node = _kw(call, "body")
    if isinstance(body_node, ast.Name):
        body_node = _assigned(fn, body_node.id)
    body = [param(w, p) for w, p in _dict_pairs(_first_dict(body_node)) if p in sig.parameters]
    header_dict = _assigned(fn, "extra_headers")
    headers: list[Param] = []
    for node in ast.walk(fn):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "strip_not_given":
            for wire, python in _dict_pairs(_first_dict(node)):
                if python in sig.parameters and wire.lower() != "anthropic-beta":
                    headers.append(param(wire, python))
    del header_dict
    path_names = {seg[1:-1] for seg in path.split("/") if seg.startswith("{")}
    path_params = [param(name, name) for name in sorted(path_names) if name in sig.parameters]
    cast = _kw(call, "cast_to")
    page_name, page_model = _page_of(_kw(call, "page"), module)
    response = page_model if page_name else _model_of(module, cast)
    cast_text = ast.unparse(cast) if cast is not None else ""
    stream_cls = _kw(call, "stream_cls")
    stream_event = None
    if stream_cls is not None and isinstance(stream_cls, ast.Subscript):
        stream_event = _model_of(module, stream_cls.slice)
    variant = Variant(
        module=module_key.split(":")[0],
        cls=cls.__name__,
        method=fn.name,
        beta=module_key.startswith("beta/"),
        response=response,
        page=page_name,
        optional_response=cast_text.startswith("Optional"),
        binary="Binary" in cast_text,
        stream_event=stream_event,
        body=body,
        multipart=_kw(call, "files") is not None,
        query=query,
        headers=headers,
        path_params=path_params,
        doc=inspect.getdoc(getattr(cls, fn.name)) or "",
    )
    return http, path, variant


def scan() -> list[Endpoint]:
    """Every (method, path) the installed SDK calls, outside the Admin API, with its variants."""
    root = _sdk_root() / "resources"
    endpoints: dict[tuple[str, str], Endpoint] = {}
    for key, (resource, status) in RESOURCES.items():
        rel, cls_name = key.split(":")
        file = root / f"{rel}.py"
        if not file.exists():
            continue
        module = importlib.import_module("anthropic.resources." + rel.replace("/", "."))
        cls = getattr(module, cls_name, None)
        if cls is None:
            continue
        tree = ast.parse(file.read_text())
        for node in tree.body:
            if not (isinstance(node, ast.ClassDef) and node.name == cls_name):
                continue
            seen: set[str] = set()
            for fn in reversed(node.body):  # the implementation follows its @overload stubs
                if not isinstance(fn, ast.FunctionDef) or fn.name.startswith("_") or fn.name in SKIP_METHODS:
                    continue
                if fn.name in SKIP_HELPERS.get(cls_name, set()):
                    continue
                if fn.name in seen:
                    continue
                found = _variant(key, module, cls, fn)
                if found is None:
                    continue
                seen.add(fn.name)
                http, path, variant = found
                ep = endpoints.setdefault((http, path), Endpoint(http, path, resource, status, fn.name))
                ep.variants.append(variant)
    return sorted(endpoints.values(), key=lambda e: (e.path, e.method))
