"""Export every registered event contract as JSON Schema (the files under schemas/).

    python -m itsm_contracts.schemas libs/contracts/schemas
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import orjson

from itsm_contracts import REGISTRY
from itsm_contracts.compatibility import breaking_changes


def current_schemas() -> dict[str, dict[str, Any]]:
    """The contracts this package defines (tests may register throwaway ones elsewhere)."""
    return {
        model.schema_name(): model.model_json_schema()
        for model in REGISTRY.values()
        if model.__module__.startswith("itsm_contracts.")
    }


def render(schema: dict[str, Any]) -> bytes:
    return orjson.dumps(schema, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def write(folder: Path) -> list[Path]:
    """Publish new contract versions and compatible growth of published ones; refuse breaking changes."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in sorted(current_schemas().items()):
        path = folder / f"{name}.json"
        if path.exists():
            if path.read_bytes() == render(schema):
                continue
            if problems := breaking_changes(orjson.loads(path.read_bytes()), schema):
                raise SystemExit(f"{name} would break its published schema ({'; '.join(problems)}): "
                                 "publish a new version instead")
        path.write_bytes(render(schema))
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write(Path(sys.argv[1] if len(sys.argv) > 1 else "schemas")):
        print(f"published {path}")
