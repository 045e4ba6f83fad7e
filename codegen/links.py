"""OpenAPI links from each CUSTOM create operation to the operations on the item it created.

A create is a ``POST`` on a collection path (``/v1/vaults``, ``/v1/vaults/{vault_id}/credentials``) whose success
response has the created item's id (``id``, a property named like the item's path parameter, or the ``id`` of a
required wrapper object such as the code sessions' ``{session: {id}}``). Every operation under
``<collection>/{param}`` whose other path parameters the create request already has gets a link: ``param`` from that
id in ``$response.body``, the others from ``$request.path.<name>``. Clients and schemathesis' stateful phase follow
them (create -> retrieve / update / archive / delete / children).

Two declared additions: :data:`MOUNTS`, other paths that address a collection's items by the same id (session
ingress addresses code sessions), whose operations a create links to as if they were under the collection; and
:data:`PRECONDITIONS`, a request header naming the state a write expects (``Last-Uuid``): the write links to itself
after a success (the value it just wrote) and after a 409 (the value the conflict names, the client's
adopt-and-retry loop)."""

from __future__ import annotations

import re
from typing import Any

from codegen.spec import operations

Doc = dict[str, Any]
_PARAM = re.compile(r"\{([^}]+)\}")


def _resolve(doc: Doc, node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        target: Any = doc
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = target
    return node


def _success(op: Doc) -> tuple[str, Doc] | None:
    for status in ("200", "201"):
        response = (op.get("responses") or {}).get(status)
        if isinstance(response, dict):
            return status, response
    return None


def _streams(op: Doc) -> bool:
    found = _success(op)
    return found is not None and "text/event-stream" in (found[1].get("content") or {})


#: path prefix -> the collection whose items it addresses by the same id: ``/v1/session_ingress/session/{id}`` and
#: ``/v2/session_ingress/session/{id}/events`` take the id of a code session (``POST /v1/code/sessions``)
MOUNTS = {
    "/v1/session_ingress/session": "/v1/code/sessions",
    "/v2/session_ingress/session": "/v1/code/sessions",
}

#: request header naming the state a write expects -> (the request body's field that becomes that state after a
#: success, the 409 response's header naming the current state): ``Last-Uuid`` of the transcript append
PRECONDITIONS = {"Last-Uuid": ("uuid", "x-last-uuid")}


def _item_param(path: str, target_path: str) -> str | None:
    """The parameter naming an item of the collection at ``path`` in ``target_path`` (under it or a mount)."""
    for prefix in [path] + [mount for mount, collection in MOUNTS.items() if collection == path]:
        match = re.match(re.escape(prefix) + r"/\{([^}]+)\}(/|$)", target_path)
        if match is not None:
            return match.group(1)
    return None


def _id_pointer(doc: Doc, response: Doc, item: str) -> str | None:
    """Where the created item's id is in the response body: ``id``, a property named like the item's path parameter
    (``environment_id``), or the ``id`` of a required wrapper object (``{session: {id}}``); None if nowhere."""
    schema = _resolve(doc, ((response.get("content") or {}).get("application/json") or {}).get("schema"))
    if not isinstance(schema, dict):
        return None
    properties = schema.get("properties") or {}
    if "id" in properties:
        return "/id"
    if item in properties:
        return f"/{item}"
    for name in schema.get("required") or []:
        inner = _resolve(doc, properties.get(name))
        if isinstance(inner, dict) and "id" in (inner.get("properties") or {}):
            return f"/{name}/id"
    return None


#: response fields that other operations on the same item require in their bodies (a handed-out credential):
#: ``worker_epoch`` of ``/bridge`` and ``/worker/register`` authorises the CCR v2 worker's writes
HANDOFF = ("worker_epoch",)


def _json_schema(doc: Doc, node: Doc | None) -> Doc:
    found = _resolve(doc, ((node or {}).get("content") or {}).get("application/json", {}).get("schema"))
    return found if isinstance(found, dict) else {}


def _needs(doc: Doc, op: Doc) -> set[str]:
    """The :data:`HANDOFF` fields ``op``'s request body requires."""
    return set(_json_schema(doc, _resolve(doc, op.get("requestBody"))).get("required") or []) & set(HANDOFF)


def handoff_links(doc: Doc) -> dict[str, dict[str, Doc]]:
    """operationId of each operation that hands out a :data:`HANDOFF` field -> links to the operations on the same
    path parameters whose bodies require it (the value passed in ``requestBody``, merged into a generated body)."""
    ops = operations(doc)
    out: dict[str, dict[str, Doc]] = {}
    for _method, path, op in ops.values():
        found = _success(op)
        if found is None or op.get("x-implementation") != "custom":
            continue
        given = set(_json_schema(doc, found[1]).get("properties") or {}) & set(HANDOFF)
        known = set(_PARAM.findall(path))
        links: dict[str, Doc] = {}
        for _m, target_path, target in ops.values():
            needs = _needs(doc, target)
            params = set(_PARAM.findall(target_path))
            if not needs or not needs <= given or not params or not params <= known or target is op:
                continue
            if target.get("x-implementation") != "custom" or _streams(target):
                continue
            links[target["operationId"]] = {
                "operationId": target["operationId"],
                "parameters": {name: f"$request.path.{name}" for name in sorted(params)},
                "requestBody": {name: f"$response.body#/{name}" for name in sorted(needs)},
            }
        if links:
            out[op["operationId"]] = links
    return out


def expected_links(doc: Doc) -> dict[str, dict[str, Doc]]:
    """operationId of each create -> its links (name -> link object), and of each operation that hands out a value
    another operation requires (:func:`handoff_links`) -> its links; a create does not link to those."""
    ops = operations(doc)
    out: dict[str, dict[str, Doc]] = {}
    for method, path, op in ops.values():
        if method != "post" or path.endswith("}") or op.get("x-implementation") != "custom":
            continue
        found = _success(op)
        if found is None:
            continue
        known = set(_PARAM.findall(path))
        links: dict[str, Doc] = {}
        for _m, target_path, target in ops.values():
            item = _item_param(path, target_path)
            if item is None or target.get("x-websocket") or target.get("x-implementation") != "custom":
                continue
            if _streams(target):  # an SSE stream does not end: no link to follow in a scenario
                continue
            if _needs(doc, target):  # it needs a value the create does not hand out (see handoff_links)
                continue
            needed = set(_PARAM.findall(target_path)) - {item}
            pointer = _id_pointer(doc, found[1], item)
            if not needed <= known or pointer is None:
                continue
            parameters = {
                item: f"$response.body#{pointer}",
                **{name: f"$request.path.{name}" for name in sorted(needed)},
            }
            links[target["operationId"]] = {"operationId": target["operationId"], "parameters": parameters}
        if links:
            out[op["operationId"]] = links
    for source, links in handoff_links(doc).items():
        out[source] = {**out.get(source, {}), **links}
    for source, by_status in precondition_links(doc).items():
        out[source] = {**out.get(source, {}), **by_status.get("success", {})}
    return out


def precondition_links(doc: Doc) -> dict[str, dict[str, dict[str, Doc]]]:
    """operationId of each write with a :data:`PRECONDITIONS` header -> ``"success"`` or ``"409"`` -> its link to
    itself: after the success the header is the request body's field, after a 409 whose response documents the
    conflict header it is that header's value; the path parameters are the request's own."""
    out: dict[str, dict[str, dict[str, Doc]]] = {}
    for _method, path, op in operations(doc).values():
        if _success(op) is None or op.get("x-implementation") != "custom":
            continue
        oid = op["operationId"]
        parameters = [_resolve(doc, p) for p in op.get("parameters") or []]
        headers = {p.get("name") for p in parameters if isinstance(p, dict) and p.get("in") == "header"}
        body = set(_json_schema(doc, _resolve(doc, op.get("requestBody"))).get("properties") or {})
        conflict = (op.get("responses") or {}).get("409")
        conflict_headers = set(conflict.get("headers") or {}) if isinstance(conflict, dict) else set()
        own = {name: f"$request.path.{name}" for name in sorted(_PARAM.findall(path))}
        for header, (field, conflict_header) in PRECONDITIONS.items():
            if header not in headers:
                continue
            if field in body:
                after = {**own, f"header.{header}": f"$request.body#/{field}"}
                out.setdefault(oid, {})["success"] = {oid: {"operationId": oid, "parameters": after}}
            if conflict_header in conflict_headers:
                adopt = {**own, f"header.{header}": f"$response.header.{conflict_header}"}
                out.setdefault(oid, {})["409"] = {oid: {"operationId": oid, "parameters": adopt}}
    return out


def _expected_by_response(doc: Doc) -> list[tuple[Doc, dict[str, Doc] | None]]:
    """Every inline response of an operation that may carry links, with the links it should carry (or None)."""
    expected = expected_links(doc)
    conflicts = {oid: by.get("409") for oid, by in precondition_links(doc).items()}
    out: list[tuple[Doc, dict[str, Doc] | None]] = []
    for _method, _path, op in operations(doc).values():
        found = _success(op)
        if found is None:
            continue
        oid = op.get("operationId", "")
        out.append((found[1], expected.get(oid)))
        conflict = (op.get("responses") or {}).get("409")
        if isinstance(conflict, dict) and "$ref" not in conflict:
            out.append((conflict, conflicts.get(oid)))
    return out


def apply(doc: Doc) -> int:
    """Write the expected links into ``doc`` (replacing any previous ones); the number of links."""
    total = 0
    for response, links in _expected_by_response(doc):
        if links:
            response["links"] = links
            total += len(links)
        else:
            response.pop("links", None)
    return total


def stale(doc: Doc) -> bool:
    """Whether ``doc``'s links differ from the expected ones."""
    return any(response.get("links") != links for response, links in _expected_by_response(doc))
