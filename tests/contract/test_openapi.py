"""Each service's OpenAPI document, as frontend teams and client generators read it: every
`$ref` resolves inside the document, and the bodies routes read themselves are documented."""

from __future__ import annotations

import importlib

import pytest

SERVICES = ["gateway", "incidents", "changes", "problems", "cmdb", "sla"]


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
