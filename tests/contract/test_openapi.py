"""Each service's OpenAPI document, as frontend teams and client generators read it: every
`$ref` resolves inside the document, and the bodies routes read themselves are documented."""

from __future__ import annotations

import importlib

import pytest

SERVICES = ["gateway", "incidents", "changes", "problems", "cmdb", "sla", "notifications", "requests", "knowledge"]


def refs(node):
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def resolve(spec: dict, ref: str):
    assert ref.startswith("#/"), ref
    node = spec
    for part in ref[2:].split("/"):
        assert isinstance(node, dict) and part in node, f"{ref} does not resolve"
        node = node[part]
    return node


@pytest.fixture(scope="module")
def specs(monkeypatch_module) -> dict[str, dict]:
    monkeypatch_module.setenv("ITSM_GATEWAY_JWT_SECRET", "x" * 48)
    return {name: importlib.import_module(f"itsm_{name}.main").create_app().openapi() for name in SERVICES}


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


@pytest.mark.parametrize("service", SERVICES)
def test_every_reference_resolves_inside_the_document(specs, service):
    spec = specs[service]
    found = set(refs(spec))
    assert found, "a document with no shared schemas at all is not what the services publish"
    for ref in found:
        resolve(spec, ref)


@pytest.mark.parametrize(("service", "path"), [("gateway", "/api/v1/cmdb/imports"), ("cmdb", "/imports")])
def test_the_import_body_is_documented_though_the_route_reads_it_itself(specs, service, path):
    spec = specs[service]
    body = spec["paths"][path]["post"]["requestBody"]
    schema = resolve(spec, body["content"]["application/json"]["schema"]["$ref"])
    assert body["required"] and {"source", "items", "relationships", "mode"} <= set(schema["properties"])
    item = resolve(spec, schema["properties"]["items"]["items"]["$ref"])
    assert {"ref", "ci_class", "attributes"} <= set(item["properties"])


def operations(spec: dict):
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                yield path, method, operation


def problem_answer(spec: dict, operation: dict, code: str) -> bool:
    answer = operation["responses"].get(code)
    if answer is None or "application/problem+json" not in answer.get("content", {}):
        return False
    schema = resolve(spec, answer["content"]["application/problem+json"]["schema"]["$ref"])
    return {"type", "title", "status"} <= set(schema["required"])


@pytest.mark.parametrize("service", SERVICES)
def test_errors_are_documented_as_the_problem_documents_they_are(specs, service):
    spec = specs[service]
    assert "HTTPValidationError" not in str(spec)  # FastAPI's {"detail": [...]} is never what we answer
    for path, method, operation in operations(spec):
        where = f"{method.upper()} {path}"
        assert problem_answer(spec, operation, "422"), where
        if "{" in path:
            assert problem_answer(spec, operation, "404"), where
        if any(p["in"] == "header" and p["name"].lower() == "if-match" for p in operation.get("parameters", [])):
            assert problem_answer(spec, operation, "412") and problem_answer(spec, operation, "409"), where
        if "requestBody" in operation and not path.endswith("/enqueue"):  # PagerDuty's own error format
            assert problem_answer(spec, operation, "413") and problem_answer(spec, operation, "400"), where
        if "security" in operation:
            assert problem_answer(spec, operation, "401"), where
