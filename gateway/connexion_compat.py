"""A connexion 3.3 defect, worked around in one place (applied by gateway.app.create_app).

``OpenAPIURIParser.resolve_params`` reads ``schema["type"]`` of every query parameter; the SDK-derived spec has
untyped ones (``created_at[gte]`` of ``GET /v1/agents`` is ``anyOf: [string, date-time string]``), so any request
carrying one died with ``KeyError: 'type'`` (a 500) before reaching its handler; the argument decorator's
``_get_val_from_param`` has the same defect. The fix gives an untyped parameter ``type: None`` in those two places
only (validation still uses the full schema) and passes its value to the handler as the string it is.
TODO(app/codegen): give such parameters a type in the spec, or wire the parser in gateway/app.py, and drop this.
"""

from __future__ import annotations

from typing import Any

from connexion.decorators import parameter
from connexion.uri_parsing import OpenAPIURIParser

_PATCHED = "_gateway_untyped_params_patched"


def _param_schemas(self: Any) -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    for name, defn in self.param_defns.items():
        schema = defn.get("schema", {})
        schemas[name] = schema if "type" in schema else {**schema, "type": None}
    return schemas


def tolerate_untyped_query_params() -> None:
    """Idempotent."""
    if getattr(OpenAPIURIParser, _PATCHED, False):
        return
    OpenAPIURIParser.param_schemas = property(_param_schemas)
    original = parameter._get_val_from_param

    def get_val_from_param(value: Any, param_definitions: dict[str, Any]) -> Any:
        schema = param_definitions.get("schema", param_definitions)
        if isinstance(schema, dict) and "type" not in schema:
            return value
        return original(value, param_definitions)

    parameter._get_val_from_param = get_val_from_param
    setattr(OpenAPIURIParser, _PATCHED, True)
