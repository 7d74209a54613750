"""JSON columns are written by orjson, as json.dumps would write them: whatever a service stored before still goes."""

import json

import orjson
import pytest

from itsm_kit.db import json_text, make_engine


@pytest.mark.parametrize("value", [
    {"segments": [{"state": "running", "at": "2026-12-05T10:00:00+00:00", "ms": 1.5}], "paused": None},
    {1: "a number as a key", "nested": {2: [True, False]}},
    ["ü", "\u2028", 2**62, -0.25, ""],
])
def test_a_json_column_holds_what_json_dumps_would_have_written(value):
    assert orjson.loads(json_text(value)) == json.loads(json.dumps(value))


def test_the_engine_writes_and_reads_json_with_orjson():
    dialect = make_engine("postgresql+asyncpg://nobody@localhost/nothing").dialect
    assert dialect._json_serializer is json_text and dialect._json_deserializer is orjson.loads
