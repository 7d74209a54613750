"""Bodies a route reads itself (a bulk import parsed from the bytes, or passed on as they are),
documented in the OpenAPI like any other body: the model's schema under components/schemas.

FastAPI documents only the bodies it parses. A route that reads the body itself names its
model with `openapi_extra=json_body(Model)`; `document_bodies` puts the schemas where the
`$ref` points. (A schema with its own `$defs` inline would be wrong: an OpenAPI `$ref`
resolves against the whole document, so client generators could not follow it.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

REF = "#/components/schemas/{model}"
_bodies: dict[str, type[BaseModel]] = {}  # by name, as components know them


def json_body(model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra` of a route that reads a JSON `model` from the raw body itself."""
    _bodies[model.__name__] = model
    return {"requestBody": {"required": True, "content": {
        "application/json": {"schema": {"$ref": REF.format(model=model.__name__)}}}}}


def document_bodies(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """app.openapi, with the schemas of the bodies routes read themselves (and of what they nest)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = generate()
            used = {ref.rsplit("/", 1)[-1] for ref in _refs(spec["paths"])}
            schemas = spec.setdefault("components", {}).setdefault("schemas", {})
            for name, model in _bodies.items():
                if name in used:
                    schema = model.model_json_schema(ref_template=REF)
                    for nested, definition in schema.pop("$defs", {}).items():
                        schemas.setdefault(nested, definition)
                    schemas.setdefault(name, schema)
            app.openapi_schema = spec
        return app.openapi_schema

    return openapi


def _refs(node: Any):
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)
