"""Published event schemas are a promise: the current models must keep it."""

from pathlib import Path

import orjson
import pytest
from pydantic import BaseModel

from itsm_contracts.compatibility import breaking_changes
from itsm_contracts.schemas import current_schemas, render

PUBLISHED = Path(__file__).parents[1] / "schemas"


def published() -> dict[str, dict]:
    return {p.stem: orjson.loads(p.read_bytes()) for p in sorted(PUBLISHED.glob("*.json"))}


def test_every_registered_contract_is_published_as_it_is_now():
    def published_as_is(name: str, schema: dict) -> bool:
        path = PUBLISHED / f"{name}.json"
        return path.exists() and path.read_bytes() == render(schema)

    stale = sorted(name for name, schema in current_schemas().items() if not published_as_is(name, schema))
    assert not stale, f"run `make schemas` to publish {stale}"


@pytest.mark.parametrize("name", sorted(published()))
def test_current_model_is_backward_compatible_with_published_schema(name):
    current = current_schemas().get(name)
    assert current is not None, f"published contract {name} has no model any more"
    assert breaking_changes(published()[name], current) == []


class V1(BaseModel):
    id: str
    count: int
    level: str = "low"


def schema(model: type[BaseModel]) -> dict:
    return model.model_json_schema()


def test_adding_an_optional_field_is_compatible():
    class V1Grown(V1):
        note: str | None = None

    assert breaking_changes(schema(V1), schema(V1Grown)) == []


def test_removing_retyping_or_requiring_a_field_is_breaking():
    class Removed(BaseModel):
        id: str
        level: str = "low"

    class Retyped(BaseModel):
        id: str
        count: str
        level: str = "low"

    class NewRequired(V1):
        owner: str

    assert breaking_changes(schema(V1), schema(Removed)) == ["field 'count' was removed"]
    assert breaking_changes(schema(V1), schema(Retyped)) == ["field 'count' changed type"]
    assert breaking_changes(schema(V1), schema(NewRequired)) == ["field 'owner' became required"]


def test_dropping_an_enum_value_is_breaking():
    from typing import Literal

    class Old(BaseModel):
        status: Literal["firing", "resolved"]

    class New(BaseModel):
        status: Literal["firing"]

    assert breaking_changes(schema(Old), schema(New)) == ["field 'status' lost allowed values ['resolved']"]
