"""The pure building blocks every practice's domain shares."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import ClassVar

import pytest

from itsm_contracts.events.problems import ProblemOpened
from itsm_kit.domain import (
    DEFAULT_PRIORITY_MATRIX, Configuration, InvalidTransition, InvalidValue, RaisesEvents, check_transition, choice,
    priority_of,
)


class Light(StrEnum):
    RED = "red"
    GREEN = "green"


TABLE = {Light.RED: frozenset({Light.GREEN}), Light.GREEN: frozenset()}


def test_matrix_covers_every_impact_urgency_combination_once():
    assert sorted(DEFAULT_PRIORITY_MATRIX) == [(i, u) for i in (1, 2, 3) for u in (1, 2, 3)]
    assert priority_of(1, 1) == 1 and priority_of(3, 3) == 5


def test_a_custom_matrix_replaces_the_default():
    assert priority_of(1, 1, {(1, 1): 3}) == 3
    with pytest.raises(InvalidValue):
        priority_of(2, 2, {(1, 1): 3})


def test_a_move_the_table_lists_passes_and_others_name_the_allowed_ones():
    check_transition(TABLE, "a light", Light.RED, Light.GREEN)
    with pytest.raises(InvalidTransition) as caught:
        check_transition(TABLE, "a light", Light.GREEN, Light.RED)
    assert str(caught.value) == "a light in state green cannot move to red; allowed: none (final state)"
    assert caught.value.details == {"current_state": Light.GREEN, "allowed_states": []}


def test_choice_names_the_valid_values():
    assert choice(Light, "red", "a light") is Light.RED
    with pytest.raises(InvalidValue, match="a light is one of red, green, not 'blue'"):
        choice(Light, "blue", "a light")


def test_each_recorded_event_gets_the_next_version_as_its_sequence():
    class Thing(RaisesEvents):
        def __init__(self):
            self.version, self.events = 4, []

    thing = Thing()
    first = ProblemOpened(problem_id="p", number="PRB1", short_description="x", opened_at="2026-01-01T00:00:00Z")
    thing.record(first)
    thing.record(first)
    assert thing.version == 6 and [seq for seq, _ in thing.events] == [5, 6]


# -- Configuration: records admins manage ----------------------------------------------------------

@dataclass
class Threshold(Configuration):
    name: str
    limit: int
    updated_at: datetime
    updated_by: str = "system"
    version: int = 1
    FIELDS: ClassVar[frozenset[str]] = frozenset({"name", "limit"})
    NOT_NULL: ClassVar[frozenset[str]] = frozenset({"name", "limit"})

    def _normalised(self, changes):
        return {**changes, **({"name": changes["name"].strip()} if "name" in changes else {})}

    def _check(self) -> None:
        if self.limit < 1:
            raise InvalidValue("a limit of at least 1")


CONFIGURED = datetime(2026, 12, 5, tzinfo=UTC)


def test_a_configuration_gets_a_new_version_only_when_something_really_changed():
    record = Threshold("cpu", 3, CONFIGURED)
    record.update({"name": " cpu ", "limit": 3}, CONFIGURED + timedelta(hours=1), actor="admin-1")
    assert (record.version, record.updated_at, record.updated_by) == (1, CONFIGURED, "system")
    record.update({"limit": 5}, CONFIGURED + timedelta(hours=1), actor="admin-1")
    assert (record.limit, record.version, record.updated_by) == (5, 2, "admin-1")


@pytest.mark.parametrize("changes", [{"colour": "red"}, {"limit": None}, {}, {"limit": 0}])
def test_a_configuration_refuses_unknown_fields_nulls_nothing_and_what_breaks_its_rules(changes):
    record = Threshold("cpu", 3, CONFIGURED)
    with pytest.raises(InvalidValue):
        record.update(changes, CONFIGURED)
    assert record.version == 1
