"""Change request rules, with no database and no broker."""

from datetime import UTC, datetime, timedelta
from typing import get_args

import pytest

from itsm_contracts.api.changes import ChangeState as ContractState, ChangeType as ContractType
from itsm_contracts.events.changes import (
    ChangeApproved, ChangeRejected, ChangeRequested, ChangeStateChanged, ChangeUpdated,
)
from itsm_kit.domain import Conflict, InvalidTransition, InvalidValue
from itsm_changes.domain import (
    DECISION_ONLY, DECISIONS, FINAL_STATES, MOVES, PATHS, TRANSITIONS, AwaitsApproval, ChangeRequest,
    ChangeTemplate, ChangeType, State,
)

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
WINDOW = dict(planned_start=T0 + timedelta(days=1), planned_end=T0 + timedelta(days=1, hours=2))


PLANS = dict(implementation_plan="pg_upgrade", backout_plan="restore the snapshot", test_plan="smoke tests")
TEMPLATE = ChangeTemplate.create(id="t-1", name="Patch a server", short_description="Patch a server",
                                 description="", assignment_group=None, active=True, at=T0, **PLANS)


def new_change(**overrides) -> ChangeRequest:
    # Ready to be submitted but for the window (issue 15: authorization needs CIs, a window and the plans).
    args = dict(id="c-1", number="CHG0001001", short_description="Upgrade PostgreSQL to 18", description="",
                change_type="normal", planned_start=None, planned_end=None, at=T0, affected_cis=["ci-1"], **PLANS)
    if overrides.get("change_type") == "standard":
        args["template"] = TEMPLATE
    return ChangeRequest.request(**args | overrides)


def walk(change: ChangeRequest, *states: State) -> None:
    """Moves along the path; out of authorize forward, as only an approval moves it."""
    for state in states:
        if (change.state, state) == (State.AUTHORIZE, State.SCHEDULED):
            change.decide("approve", None, T0, actor="cab-1")
        elif state is State.CLOSED:
            change.close("successful", "done", T0)
        else:
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
    change = new_change(change_type=change_type, **WINDOW)
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
    with pytest.raises(InvalidValue, match="planned_end"):
        change.move_to(State.SCHEDULED, T0)
    assert change.state is State.NEW


def test_domain_and_contract_agree_on_types_and_states():
    assert set(get_args(ContractType)) == set(ChangeType)
    assert set(get_args(ContractState)) == set(State)


# -- issue 13: who requested, assignment, affected CIs; edits; moves by request; approvals ------------------------


def awaiting_approval(**overrides) -> ChangeRequest:
    change = new_change(**WINDOW | overrides)
    walk(change, State.ASSESS, State.AUTHORIZE)
    change.events.clear()
    return change


def test_requesting_keeps_who_asked_its_assignment_and_its_cis_once_each():
    change = new_change(requested_by="alice", assignee="bob", assignment_group="dba",
                        affected_cis=["ci-2", "ci-1", "ci-2"])
    assert (change.requested_by, change.assignee, change.assignment_group) == ("alice", "bob", "dba")
    assert change.affected_cis == ["ci-2", "ci-1"] and change.approvals == []
    [(_, requested)] = change.events
    assert (requested.actor, requested.assignee, requested.affected_cis) == ("alice", "bob", ["ci-2", "ci-1"])


def test_the_approval_is_the_only_way_from_authorize_to_scheduled():
    assert DECISION_ONLY == {(State.AUTHORIZE, State.SCHEDULED)}
    for kind in (ChangeType.NORMAL, ChangeType.EMERGENCY):
        assert State.SCHEDULED in TRANSITIONS[kind][State.AUTHORIZE]
        assert MOVES[kind][State.AUTHORIZE] == {State.NEW, State.CANCELED}
    # A standard change is pre-authorized: it is scheduled by a move, no approval asked.
    assert State.SCHEDULED in MOVES[ChangeType.STANDARD][State.NEW]


def test_moving_from_authorize_to_scheduled_by_hand_is_refused_naming_the_allowed_moves():
    change = awaiting_approval()
    with pytest.raises(AwaitsApproval) as caught:
        change.move_to(State.SCHEDULED, T0, actor="agent-1")
    assert caught.value.allowed == [State.CANCELED, State.NEW]
    assert caught.value.details["allowed_states"] == ["canceled", "new"]
    assert "only with an approval" in str(caught.value)
    assert change.state is State.AUTHORIZE and change.events == []


def test_a_move_raises_state_changed_with_who_and_why_and_a_version_each():
    change = new_change(change_type="standard", **WINDOW)
    change.move_to(State.SCHEDULED, T0 + timedelta(minutes=1), actor="agent-1")
    change.move_to(State.CANCELED, T0 + timedelta(minutes=2), actor="agent-1", reason="vendor postponed")
    assert change.version == 5  # each move also raises its milestone event (scheduled, canceled)
    assert [sequence for sequence, _ in change.events] == [1, 2, 3, 4, 5]
    [(_, scheduled), (_, canceled)] = [(s, e) for s, e in change.events if isinstance(e, ChangeStateChanged)]
    assert isinstance(canceled, ChangeStateChanged)
    assert (scheduled.from_state, scheduled.to_state, scheduled.reason) == ("new", "scheduled", None)
    assert (canceled.from_state, canceled.to_state, canceled.reason, canceled.actor) == (
        "scheduled", "canceled", "vendor postponed", "agent-1")
    assert change.updated_at == T0 + timedelta(minutes=2)


def test_an_approval_schedules_the_change_and_is_kept_on_it():
    change = awaiting_approval()
    change.decide("approve", " fine by the CAB ", T0 + timedelta(hours=1), actor="cab-1")
    assert change.state is State.SCHEDULED
    [approval] = change.approvals
    assert (approval.approver, approval.decision, approval.comment, approval.at) == (
        "cab-1", "approve", "fine by the CAB", T0 + timedelta(hours=1))
    [(_, approved), (_, moved), _] = change.events
    assert isinstance(approved, ChangeApproved) and approved.actor == "cab-1"
    assert (moved.from_state, moved.to_state) == ("authorize", "scheduled")


def test_a_rejection_returns_the_change_to_new_with_its_comment_and_it_may_be_submitted_again():
    change = awaiting_approval()
    change.decide("reject", "no rollback plan", T0, actor="cab-1")
    assert change.state is State.NEW
    [(_, rejected), (_, moved)] = change.events
    assert isinstance(rejected, ChangeRejected) and rejected.comment == "no rollback plan"
    assert (moved.to_state, moved.reason) == ("new", "no rollback plan")
    walk(change, State.ASSESS, State.AUTHORIZE, State.SCHEDULED)
    assert [a.decision for a in change.approvals] == ["reject", "approve"]


@pytest.mark.parametrize("comment", [None, "  "])
def test_a_rejection_must_say_why(comment):
    change = awaiting_approval()
    with pytest.raises(InvalidValue, match="comment"):
        change.decide("reject", comment, T0, actor="cab-1")
    assert change.state is State.AUTHORIZE and change.approvals == []


@pytest.mark.parametrize("state", [State.NEW, State.ASSESS])
def test_a_decision_needs_a_change_awaiting_one(state):
    change = new_change(**WINDOW)
    walk(change, *PATHS[ChangeType.NORMAL][1:PATHS[ChangeType.NORMAL].index(state) + 1])
    with pytest.raises(Conflict, match="not awaiting approval"):
        change.decide("approve", None, T0, actor="cab-1")
    assert change.approvals == []


def test_an_approval_needs_the_planned_window():
    # Issue 15: the window is needed before authorize already, so no change awaits approval without one.
    change = new_change(planned_start=T0)
    walk(change, State.ASSESS)
    with pytest.raises(InvalidValue, match="planned_end"):
        change.move_to(State.AUTHORIZE, T0)
    assert change.state is State.ASSESS and change.approvals == []


def test_decisions_are_a_table_from_the_awaiting_state():
    assert DECISIONS == {"approve": (State.AUTHORIZE, State.SCHEDULED), "reject": (State.AUTHORIZE, State.NEW)}
    for awaiting, outcome in DECISIONS.values():
        assert outcome in TRANSITIONS[ChangeType.NORMAL][awaiting]


def test_an_edit_changes_only_what_it_names_and_publishes_what_really_changed():
    change = new_change(assignee="bob")
    change.events.clear()
    change.update({"assignee": "bob", "assignment_group": "dba", "affected_cis": ["a", "b", "a"],
                   "short_description": " Upgrade PG "}, T0 + timedelta(minutes=5), actor="agent-1")
    [(sequence, updated)] = change.events
    assert sequence == 2 == change.version
    assert isinstance(updated, ChangeUpdated) and updated.actor == "agent-1"
    assert updated.changes == {"assignment_group": "dba", "affected_cis": ["a", "b"], "short_description": "Upgrade PG"}
    assert (change.assignee, change.assignment_group, change.affected_cis) == ("bob", "dba", ["a", "b"])


def test_an_edit_that_changes_nothing_raises_nothing():
    change = new_change(assignee="bob")
    change.update({"assignee": "bob"}, T0, actor="agent-1")
    assert change.version == 1 and len(change.events) == 1


@pytest.mark.parametrize("changes", [
    {}, {"state": "closed"}, {"short_description": " "}, {"description": None}, {"affected_cis": None},
    {"planned_start": T0 + timedelta(days=2)},  # after the planned end
])
def test_a_bad_edit_is_refused_and_changes_nothing(changes):
    change = new_change(**WINDOW)
    before = (change.short_description, change.planned_start, change.version)
    with pytest.raises(InvalidValue):
        change.update(changes, T0, actor="agent-1")
    assert (change.short_description, change.planned_start, change.version) == before


def test_a_scheduled_change_keeps_a_window_and_a_final_one_is_not_edited():
    change = new_change(change_type="standard", **WINDOW)
    change.move_to(State.SCHEDULED, T0)
    with pytest.raises(InvalidValue, match="keeps a planned start and end"):
        change.update({"planned_end": None}, T0)
    change.update({"planned_end": WINDOW["planned_end"] + timedelta(hours=1)}, T0)
    change.move_to(State.CANCELED, T0)
    with pytest.raises(Conflict):
        change.update({"assignee": "bob"}, T0)
