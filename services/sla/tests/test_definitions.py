"""SLA definitions: defaults, and the combinations refused because they could never work as meant."""

from __future__ import annotations

from datetime import timedelta

import pytest

from itsm_kit.domain import InvalidValue
from itsm_sla.domain.definitions import (
    DEFAULT_TARGETS, AppliesTo, Definition, Goal, default_definitions,
)
from itsm_sla.domain.history import Record

HOUR = timedelta(hours=1)


def test_the_default_set_has_one_definition_per_priority_with_the_former_targets():
    defaults = default_definitions()
    assert [d.applies_to.priorities for d in defaults] == [frozenset({p}) for p in range(1, 6)]
    for d in defaults:
        [priority] = d.applies_to.priorities
        assert {g.kind: g.target for g in d.goals} == DEFAULT_TARGETS[priority]
        assert d.calendar_id is None and d.thresholds == (50, 75, 90)
        assert d.goal("response").target < d.goal("resolution").target


def test_default_conditions_pause_on_hold_stop_response_on_pick_up_and_resolution_on_resolved():
    response, resolution = Goal.create("response", HOUR), Goal.create("resolution", HOUR)
    assert response.pause_states == resolution.pause_states == {"on_hold"}
    assert response.stop_states == {"in_progress", "on_hold", "resolved", "closed"} and response.stop_on_assignment
    assert resolution.stop_states == {"resolved", "closed"} and resolution.on_reopen == "resume"


def test_given_conditions_replace_the_defaults_and_none_keeps_them():
    goal = Goal.create("resolution", HOUR, pause_states=[], stop_states=None)
    assert goal.pause_states == frozenset() and goal.stop_states == {"resolved", "closed"}


@pytest.mark.parametrize(
    ("target", "conditions", "message"),
    [
        (-HOUR, {}, "positive duration"),
        (timedelta(0), {}, "positive duration"),
        (timedelta(days=400), {}, "at most 366 days"),
        (HOUR, {"start_states": ["resolved"]}, "never attach"),
        (HOUR, {"start_states": []}, "at least one start state"),
        (HOUR, {"pause_states": ["resolved"]}, "pause states must also be start states"),
        (HOUR, {"stop_states": ["done"]}, "incident states"),
        (HOUR, {"on_reopen": "sometimes"}, "resume, reset or none"),
    ],
)
def test_goals_that_cannot_work_are_refused(target, conditions, message):
    with pytest.raises(InvalidValue, match=message):
        Goal.create("resolution", target, **conditions)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": " "}, "needs a name"),
        ({"goals": []}, "response or a resolution"),
        ({"goals": [Goal.create("response", HOUR), Goal.create("response", HOUR)]}, "one goal per kind"),
        ({"thresholds": [75, 50]}, "increasing"),
        ({"thresholds": [50, 50]}, "increasing"),
        ({"thresholds": [0, 50]}, "between 1 and 99"),
        ({"thresholds": [50, 100]}, "between 1 and 99"),
        ({"thresholds": list(range(1, 13))}, "at most 10"),
        ({"applies_to": AppliesTo(priorities=frozenset({0, 9}))}, "priorities run from 1"),
    ],
)
def test_definitions_that_cannot_work_are_refused(fields, message):
    values = {"id": "d", "version": 1, "name": "Gold", "goals": [Goal.create("resolution", HOUR)], **fields}
    with pytest.raises(InvalidValue, match=message):
        Definition.create(**values)


def test_goals_are_kept_response_first_and_no_thresholds_is_allowed():
    d = Definition.create(id="d", version=1, name=" Gold ", thresholds=[],
                          goals=[Goal.create("resolution", HOUR), Goal.create("response", HOUR)])
    assert [g.kind for g in d.goals] == ["response", "resolution"] and d.name == "Gold" and d.thresholds == ()


def test_stop_reopen_and_reassignment_read_the_record():
    goal = Goal.create("response", HOUR)
    new = Record(state="new", priority=3, opened_at=None)
    assert not goal.stops(new)
    assert goal.stops(Record(state="new", priority=3, opened_at=None, assignee="ann"))
    resolution = Goal.create("resolution", HOUR, reset_on_reassignment=True)
    resolved = Record(state="resolved", priority=3, opened_at=None, assignment_group="desk")
    back = Record(state="in_progress", priority=3, opened_at=None, assignment_group="dba")
    assert resolution.reopened(resolved, back) and not resolution.reopened(None, back)
    assert resolution.reassigned(resolved, back)
    assert not resolution.reassigned(Record(state="new", priority=3, opened_at=None), back)  # a first assignment


def test_the_migration_seeds_exactly_the_default_set():
    import importlib.util
    from pathlib import Path

    from itsm_sla.catalog import body_of

    path = Path(__file__).resolve().parents[1] / "migrations" / "versions" / "0002_sla_engine.py"
    spec = importlib.util.spec_from_file_location("sla_migration_0002", path)
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    for definition in default_definitions():
        [priority] = definition.applies_to.priorities
        assert migration.default_body(priority) == body_of(definition)
        assert definition.id == f"default-p{priority}" and definition.name == migration.default_body(priority)["name"]
