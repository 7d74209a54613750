"""The OpenAPI document as the service really answers.

- Bodies a route reads itself (a bulk import parsed from the bytes, or passed on as they are)
  are documented like any other body: FastAPI documents only the bodies it parses, so such a
  route names its model with `openapi_extra=json_body(Model)` and `document` puts the schemas
  where the `$ref` points. (A schema with its own `$defs` inline would be wrong: an OpenAPI
  `$ref` resolves against the whole document, so client generators could not follow it.)
- Errors are RFC 9457 `application/problem+json` (FastAPI would document its own `{"detail":
  [...]}` for 422 and nothing else): each operation lists the errors it can answer.
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


PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object", "title": "Problem", "description": "RFC 9457 problem details; members beyond these say more",
    "required": ["type", "title", "status"], "additionalProperties": True,
    "properties": {
        "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
        "detail": {"type": "string"}, "instance": {"type": "string"},
        "errors": {"type": "array", "description": "each invalid input (400/422)", "items": {
            "type": "object", "properties": {"location": {"type": "array", "items": {"type": "string"}},
                                             "message": {"type": "string"}, "type": {"type": "string"}}}},
    },
}
ERRORS = {
    "400": "malformed: the body is not JSON, or a cursor or If-Match is not one this API gave",
    "401": "no valid credentials", "403": "the caller's role may not do this",
    "404": "what the path names does not exist", "409": "it clashes with the current state of things",
    "412": "If-Match names another version than the current one: reload and retry",
    "413": "the body is larger than this operation takes",
    "422": "the input breaks a rule; nothing was written",
    "503": "something this needs is unavailable: retry later (see Retry-After where given)",
}
WRITES = {"post", "put", "patch", "delete"}


def _errors_of(path: str, method: str, operation: dict[str, Any]) -> list[str]:
    parameters = {(p.get("in"), p.get("name", "").lower()) for p in operation.get("parameters", [])}
    codes = ["422", "503"]
    if "requestBody" in operation or parameters:
        codes.append("400")
    if "security" in operation:
        codes += ["401", "403"]
    if "{" in path:
        codes.append("404")
    if method in WRITES:
        codes.append("409")
    if ("header", "if-match") in parameters:
        codes.append("412")
    if "requestBody" in operation:
        codes.append("413")
    return sorted(codes)


def _document_errors(spec: dict[str, Any]) -> None:
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    problem = {"application/problem+json": {"schema": {"$ref": REF.format(model="Problem")}}}
    for path, item in spec.get("paths", {}).items():
        for method, operation in item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            responses = operation.setdefault("responses", {})
            for code in _errors_of(path, method, operation):
                documented = responses.get(code)
                if documented is None or (code == "422" and "HTTPValidationError" in str(documented)):
                    responses[code] = {"description": ERRORS[code], "content": problem}
    # FastAPI's own 422 models, left without a use.
    fastapi_models = ("HTTPValidationError", "ValidationError")
    others = {k: v for k, v in schemas.items() if k not in fastapi_models}
    used = {ref.rsplit("/", 1)[-1] for ref in _refs([spec.get("paths", {}), others])}
    for name in fastapi_models:
        if name not in used:
            schemas.pop(name, None)


def document(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """app.openapi, with the schemas of the bodies routes read themselves (and of what they nest), and
    the problem answers of every operation."""
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
            _document_errors(spec)
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
