"""Change request rules, with no database and no broker."""

from datetime import UTC, datetime, timedelta
from typing import get_args

import pytest

from itsm_contracts.api.changes import ChangeState as ContractState, ChangeType as ContractType
from itsm_contracts.events.changes import ChangeRequested
from itsm_kit.domain import InvalidTransition, InvalidValue
from itsm_changes.domain import (
    FINAL_STATES, PATHS, TRANSITIONS, ChangeRequest, ChangeType, State,
)

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
WINDOW = dict(planned_start=T0 + timedelta(days=1), planned_end=T0 + timedelta(days=1, hours=2))


def new_change(**overrides) -> ChangeRequest:
    args = dict(id="c-1", number="CHG0001001", short_description="Upgrade PostgreSQL to 18", description="",
                change_type="normal", planned_start=None, planned_end=None, at=T0)
    return ChangeRequest.request(**args | overrides)


def walk(change: ChangeRequest, *states: State) -> None:
    for state in states:
        change.move_to(state, T0)


def test_requesting_raises_requested_with_version_1_in_state_new():
    change = new_change(change_type="emergency", short_description="  Patch OpenSSL  ")
    assert change.state is State.NEW and change.change_type is ChangeType.EMERGENCY and change.version == 1
    [(sequence, requested)] = change.events
    assert sequence == 1 and isinstance(requested, ChangeRequested)
    assert requested.change_type == "emergency" and requested.short_description == "Patch OpenSSL"
    assert requested.number == "CHG0001001" and requested.requested_at == T0


def test_blank_short_description_is_refused():
    with pytest.raises(InvalidValue):
        new_change(short_description="  ")


def test_unknown_change_type_is_refused():
    with pytest.raises(InvalidValue, match="standard, normal, emergency"):
        new_change(change_type="urgent")


@pytest.mark.parametrize(
    ("start", "end"),
    [(T0, T0), (T0, T0 - timedelta(minutes=1)), (T0.replace(tzinfo=None), None), (None, T0.replace(tzinfo=None))],
)
def test_planned_end_must_follow_start_and_times_carry_a_timezone(start, end):
    with pytest.raises(InvalidValue):
        new_change(planned_start=start, planned_end=end)


@pytest.mark.parametrize(("start", "end"), [(None, None), (T0, None), (None, T0), (T0, T0 + timedelta(seconds=1))])
def test_a_window_may_be_open_or_partly_unknown_at_request(start, end):
    change = new_change(planned_start=start, planned_end=end)
    assert (change.planned_start, change.planned_end) == (start, end)


@pytest.mark.parametrize(
    ("change_type", "path"),
    [
        ("normal", ["assess", "authorize", "scheduled", "implement", "review", "closed"]),
        ("standard", ["scheduled", "implement", "review", "closed"]),  # pre-authorized
        ("emergency", ["authorize", "scheduled", "implement", "review", "closed"]),  # no time to assess
    ],
)
def test_each_type_walks_its_path_to_closed(change_type, path):
    change = new_change(change_type=change_type, **WINDOW)
    walk(change, *map(State, path))
    assert change.state is State.CLOSED
    assert change.updated_at == T0


@pytest.mark.parametrize(
    ("change_type", "wanted"),
    [("standard", State.ASSESS), ("standard", State.AUTHORIZE), ("emergency", State.ASSESS),
     ("normal", State.AUTHORIZE), ("normal", State.SCHEDULED)],
)
def test_no_type_skips_or_takes_steps_off_its_path(change_type, wanted):
    change = new_change(change_type=change_type, **WINDOW)
    with pytest.raises(InvalidTransition):
        change.move_to(wanted, T0)


@pytest.mark.parametrize("change_type", list(ChangeType))
def test_every_state_before_closed_can_be_canceled_and_final_states_allow_nothing(change_type):
    for state in PATHS[change_type]:
        if state in FINAL_STATES:
            assert TRANSITIONS[change_type][state] == frozenset()
        else:
            assert State.CANCELED in TRANSITIONS[change_type][state]
    assert TRANSITIONS[change_type][State.CANCELED] == frozenset()


@pytest.mark.parametrize(("change_type", "rejected_in"), [("normal", "assess"), ("normal", "authorize"),
                                                          ("emergency", "authorize")])
def test_a_rejected_change_goes_back_to_new(change_type, rejected_in):
    change = new_change(change_type=change_type)
    path = PATHS[ChangeType(change_type)]
    walk(change, *path[1:path.index(State(rejected_in)) + 1])
    change.move_to(State.NEW, T0)
    assert change.state is State.NEW


def test_the_normal_table_in_full():
    assert {s: sorted(n) for s, n in TRANSITIONS[ChangeType.NORMAL].items() if n} == {
        State.NEW: ["assess", "canceled"],
        State.ASSESS: ["authorize", "canceled", "new"],
        State.AUTHORIZE: ["canceled", "new", "scheduled"],
        State.SCHEDULED: ["canceled", "implement"],
        State.IMPLEMENT: ["canceled", "review"],
        State.REVIEW: ["canceled", "closed"],
    }


def test_illegal_transition_names_the_allowed_ones():
    change = new_change(change_type="standard")
    with pytest.raises(InvalidTransition) as caught:
        change.move_to(State.IMPLEMENT, T0)
    assert caught.value.current is State.NEW and caught.value.allowed == [State.CANCELED, State.SCHEDULED]
    assert "standard" in str(caught.value) and "canceled, scheduled" in str(caught.value)


def test_scheduling_needs_a_planned_window():
    change = new_change(change_type="standard", planned_start=T0)
    with pytest.raises(InvalidValue, match="planned start and end"):
        change.move_to(State.SCHEDULED, T0)
    assert change.state is State.NEW


def test_domain_and_contract_agree_on_types_and_states():
    assert set(get_args(ContractType)) == set(ChangeType)
    assert set(get_args(ContractState)) == set(State)
