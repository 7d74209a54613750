"""Backward-compatibility rules between a published event schema and its current model.

A published version may only grow by optional fields. Breaking it (removing or
retyping a field, making a field required, dropping an enum value) needs a new version.
"""

from __future__ import annotations

from typing import Any


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if ref and ref.startswith("#/$defs/"):
        return _resolve(schema, schema["$defs"][ref.removeprefix("#/$defs/")])
    return node


def _shape(schema: dict[str, Any], node: dict[str, Any]) -> Any:
    """What a field's value can be, ignoring titles, descriptions and defaults."""
    node = _resolve(schema, node)
    if "anyOf" in node:
        return ("anyOf", sorted((repr(_shape(schema, n)) for n in node["anyOf"])))
    if "enum" in node or "const" in node:
        return ("enum", node.get("type"))
    if node.get("type") == "object":
        extra = node.get("additionalProperties")
        return ("object", _shape(schema, extra) if isinstance(extra, dict) else extra)
    if node.get("type") == "array":
        return ("array", _shape(schema, node.get("items", {})))
    return (node.get("type"), node.get("format"))


def _enum_values(schema: dict[str, Any], node: dict[str, Any]) -> set[Any]:
    node = _resolve(schema, node)
    values = set(node.get("enum", []))
    if "const" in node:
        values.add(node["const"])
    for option in node.get("anyOf", []):
        values |= _enum_values(schema, option)
    return values


def breaking_changes(published: dict[str, Any], current: dict[str, Any]) -> list[str]:
    problems = []
    old_props = published.get("properties", {})
    new_props = current.get("properties", {})
    for name, old in old_props.items():
        new = new_props.get(name)
        if new is None:
            problems.append(f"field {name!r} was removed")
            continue
        if _shape(published, old) != _shape(current, new):
            problems.append(f"field {name!r} changed type")
        lost = _enum_values(published, old) - _enum_values(current, new)
        if lost:
            problems.append(f"field {name!r} lost allowed values {sorted(map(str, lost))}")
    old_required = set(published.get("required", []))
    new_required = set(current.get("required", []))
    for name in sorted(new_required - old_required):
        problems.append(f"field {name!r} became required")
    for name in sorted((old_required - new_required) & set(new_props)):
        problems.append(f"field {name!r} is no longer required")
    return problems
