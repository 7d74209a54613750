"""The house rules every service room keeps, read from the source: imports go one way, with no
cycle; the domain does no I/O; routes reach data only through handlers."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SERVICES = sorted(p for p in (Path(__file__).resolve().parents[2] / "services").iterdir() if (p / "src").is_dir())
INFRASTRUCTURE = ("sqlalchemy", "asyncpg", "aiokafka", "fastapi", "starlette", "httpx")


def modules(service: Path) -> dict[str, Path]:
    [package] = [p for p in (service / "src").iterdir() if p.name.startswith("itsm_") and (p / "__init__.py").exists()]
    found = {}
    for path in package.rglob("*.py"):
        parts = path.relative_to(package.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(path: Path) -> set[str]:
    """Every module a file imports at any level (a function-level import is still a dependency)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def graph(service: Path) -> dict[str, set[str]]:
    own = modules(service)
    return {name: {m for m in imports(path) if m in own and m != name} for name, path in own.items()}


def cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = "open"
        for nxt in sorted(edges[node]):
            if state.get(nxt) == "open":
                return path[path.index(nxt):] + [node, nxt] if nxt in path else [node, nxt]
            if nxt not in state and (found := visit(nxt, [*path, node])):
                return found
        state[node] = "done"
        return None

    for start in sorted(edges):
        if start not in state and (found := visit(start, [])):
            return found
    return None


def is_package_reexport(module: str, target: str) -> bool:
    """A package's __init__ naming its own submodules is not a cycle through them."""
    return target.startswith(module + ".")


@pytest.mark.parametrize("service", SERVICES, ids=lambda p: p.name)
def test_no_import_cycle_within_a_service(service):
    edges = {m: {t for t in targets if not is_package_reexport(m, t)} for m, targets in graph(service).items()}
    assert cycle(edges) is None, f"{service.name}: import cycle {cycle(edges)}"


@pytest.mark.parametrize("service", SERVICES, ids=lambda p: p.name)
def test_the_domain_does_no_io_and_knows_no_other_layer(service):
    own = modules(service)
    package = next(iter(own)).split(".")[0]
    layers = {f"{package}.{layer}" for layer in ("store", "handlers", "api", "consumers", "main")}
    for name, path in own.items():
        if name == f"{package}.domain" or name.startswith(f"{package}.domain."):
            wrong = sorted(m for m in imports(path) if m.split(".")[0] in INFRASTRUCTURE
                           or any(m == layer or m.startswith(layer + ".") for layer in layers))
            assert not wrong, f"{name} imports {wrong}"


@pytest.mark.parametrize("service", SERVICES, ids=lambda p: p.name)
def test_routes_reach_data_only_through_handlers(service):
    own = modules(service)
    package = next(iter(own)).split(".")[0]
    routes = {n: p for n, p in own.items() if n == f"{package}.api" or n.startswith(f"{package}.api.")}
    for name, path in routes.items():
        wrong = sorted(m for m in imports(path) if m.startswith(f"{package}.store") or m.startswith("sqlalchemy"))
        assert not wrong, f"{name} imports {wrong}"
        source = path.read_text()
        for touch in ("runtime.sessions", ".begin()", "Repository("):
            assert touch not in source, f"{name} uses {touch}"


def test_the_checks_see_a_cycle():
    assert cycle({"a": {"b"}, "b": {"a"}}) is not None and cycle({"a": {"b"}, "b": set()}) is None
