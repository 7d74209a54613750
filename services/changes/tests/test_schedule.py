"""The schedule's rules (issue 15), with no database and no broker: blackouts refuse, emergencies may say why,
conflicts between overlapping changes on related CIs warn."""

from datetime import UTC, datetime, timedelta

import pytest

from itsm_contracts.events.changes import ChangeConflictDetected, ChangeImplemented, ChangeRequested
from itsm_kit.domain import Conflict, InvalidValue
from itsm_changes.domain import (
    ChangeRequest, ChangeType, ChangeWindow, InBlackout, Related, Relation, State, check_blackouts, conflicts_between,
    mirrored, overlaps,
)

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
START, END = T0 + timedelta(days=2), T0 + timedelta(days=2, hours=2)


def window(kind="blackout", cis=(), start=START - timedelta(hours=1), end=END + timedelta(hours=1),
           name="Year-end freeze") -> ChangeWindow:
    return ChangeWindow.create(id=f"w-{name}", kind=kind, name=name, start=start, end=end, cis=list(cis),
                               reason="finance closes the year", at=T0, actor="admin-1")


def change_in(state: State, change_type="normal", cis=("db-1",), start=START, end=END, ident="c-1",
              number="CHG0001001", **extra) -> ChangeRequest:
    return ChangeRequest(id=ident, number=number, short_description="Upgrade PostgreSQL", description="",
                         change_type=ChangeType(change_type), state=state, planned_start=start, planned_end=end,
                         requested_at=T0, updated_at=T0, version=3, affected_cis=list(cis),
                         implementation_plan="upgrade", backout_plan="restore", test_plan="smoke", **extra)


def blacked_out(change: ChangeRequest, *windows: ChangeWindow) -> ChangeRequest:
    change.blackouts = tuple(windows)
    return change


# -- blackouts ---------------------------------------------------------------------------------------------------

def test_approving_a_change_into_a_blackout_over_its_ci_is_refused_naming_the_blackout_and_changes_nothing():
    change = blacked_out(change_in(State.AUTHORIZE), window(cis=["db-1"]))
    with pytest.raises(InBlackout) as refused:
        change.decide("approve", None, T0, actor="cab-1")
    assert isinstance(refused.value, Conflict) and "Year-end freeze" in str(refused.value)
    assert refused.value.details["blackouts"][0]["name"] == "Year-end freeze"
    assert change.state is State.AUTHORIZE and change.version == 3 and change.events == []


def test_a_standard_change_cannot_move_into_a_blackout_and_can_outside_one():
    inside = blacked_out(change_in(State.NEW, "standard"), window())
    with pytest.raises(InBlackout):
        inside.move_to(State.SCHEDULED, T0)
    later = window(start=END + timedelta(days=1), end=END + timedelta(days=2))
    outside = blacked_out(change_in(State.NEW, "standard"), later)
    outside.move_to(State.SCHEDULED, T0)
    assert outside.state is State.SCHEDULED


def test_an_emergency_change_that_says_why_is_scheduled_into_a_blackout_one_that_does_not_is_refused():
    silent = blacked_out(change_in(State.AUTHORIZE, "emergency"), window())
    with pytest.raises(InBlackout):
        silent.decide("approve", None, T0, actor="ecab-1")
    explained = blacked_out(change_in(State.AUTHORIZE, "emergency", blackout_reason="payments are down"), window())
    explained.decide("approve", None, T0, actor="ecab-1")
    assert explained.state is State.SCHEDULED


def test_only_an_emergency_change_may_give_a_blackout_reason_to_pass():
    normal = blacked_out(change_in(State.AUTHORIZE, blackout_reason="we are in a hurry"), window())
    with pytest.raises(InBlackout):
        normal.decide("approve", None, T0, actor="cab-1")


def test_a_blackout_applies_to_its_cis_or_with_none_to_every_ci_and_a_maintenance_window_never_refuses():
    kwargs = dict(number="CHG1", change_type=ChangeType.NORMAL, start=START, end=END, cis=["db-1"],
                  blackout_reason=None)
    check_blackouts(windows=[window(cis=["web-9"])], **kwargs)  # another CI's freeze
    check_blackouts(windows=[window(kind="maintenance")], **kwargs)
    with pytest.raises(InBlackout):
        check_blackouts(windows=[window(cis=[])], **kwargs)  # a freeze on everything
    with pytest.raises(InBlackout):
        check_blackouts(windows=[window(cis=["web-9", "db-1"])], **kwargs)


def test_a_window_ending_as_the_change_begins_does_not_overlap_it():
    assert not overlaps(START, END, END, END + timedelta(hours=1))
    assert not overlaps(START, END, START - timedelta(hours=1), START)
    assert overlaps(START, END, END - timedelta(seconds=1), END + timedelta(hours=1))
    check_blackouts(number="CHG1", change_type=ChangeType.NORMAL, start=START, end=END, cis=["db-1"],
                    blackout_reason=None, windows=[window(start=END, end=END + timedelta(hours=4))])


def test_moving_a_scheduled_change_into_a_blackout_is_refused_other_edits_are_not():
    freeze = window(start=END + timedelta(days=1), end=END + timedelta(days=2))
    change = blacked_out(change_in(State.SCHEDULED), freeze)
    with pytest.raises(InBlackout):
        change.update({"planned_start": freeze.start, "planned_end": freeze.start + timedelta(hours=1)}, T0)
    assert change.planned_start == START and change.version == 3
    change.update({"description": "now with a runbook"}, T0)
    change.update({"planned_start": START + timedelta(hours=1), "planned_end": END + timedelta(hours=1)}, T0)
    assert change.planned_start == START + timedelta(hours=1)


def test_a_scheduled_emergency_change_in_a_blackout_keeps_its_reason():
    change = blacked_out(change_in(State.SCHEDULED, "emergency", blackout_reason="payments are down"), window())
    with pytest.raises(InBlackout):
        change.update({"blackout_reason": None}, T0)


def test_a_window_runs_forward_has_a_timezone_and_a_bounded_length():
    with pytest.raises(InvalidValue):
        window(start=END, end=START)
    with pytest.raises(InvalidValue):
        window(start=START, end=START + timedelta(days=367))
    with pytest.raises(InvalidValue):
        window(start=START.replace(tzinfo=None), end=END.replace(tzinfo=None))
    with pytest.raises(InvalidValue):
        window(kind="holiday")


def test_a_window_change_moves_its_version_only_when_something_changed():
    w = window()
    w.update({"name": "Year-end freeze"}, T0)
    assert w.version == 1
    w.update({"end": w.end + timedelta(days=1)}, T0)
    assert w.version == 2
    with pytest.raises(InvalidValue):
        w.update({"end": w.start}, T0)


# -- conflicts ---------------------------------------------------------------------------------------------------

GRAPH = Related(dependents={"db-1": frozenset({"app-1", "svc-1"})}, dependencies={"app-1": frozenset({"db-1"})})


def other(state=State.SCHEDULED, cis=("db-1",), start=START + timedelta(hours=1), end=END + timedelta(hours=1)):
    return change_in(state, cis=cis, start=start, end=end, ident="c-2", number="CHG0001002")


def test_an_overlapping_scheduled_change_on_the_same_ci_conflicts():
    [found] = conflicts_between(change_in(State.SCHEDULED), [other()], GRAPH)
    assert (found["change_id"], found["number"], found["ci"], found["other_ci"], found["relation"]) == (
        "c-2", "CHG0001002", "db-1", "db-1", "same_ci")
    assert "CHG0001002" in found["reason"]


def test_a_change_on_a_ci_that_depends_on_this_ones_conflicts_and_each_side_sees_it_its_own_way():
    mine = change_in(State.SCHEDULED)
    [found] = conflicts_between(mine, [other(State.IMPLEMENT, cis=["app-1"])], GRAPH)
    assert (found["ci"], found["other_ci"], found["relation"]) == ("db-1", "app-1", Relation.DEPENDS_ON)
    [theirs] = mirrored([found], mine)
    assert (theirs["change_id"], theirs["ci"], theirs["other_ci"], theirs["relation"]) == (
        "c-1", "app-1", "db-1", "depended_on_by")
    # And the other way round, computed from the other change's side of the graph.
    [back] = conflicts_between(change_in(State.SCHEDULED, cis=["app-1"]), [other(cis=["db-1"])], GRAPH)
    assert back["relation"] == "depended_on_by"


def test_no_conflict_apart_in_time_on_unrelated_cis_or_with_a_change_not_holding_its_window():
    mine = change_in(State.SCHEDULED)
    assert conflicts_between(mine, [other(start=END, end=END + timedelta(hours=1))], GRAPH) == []
    assert conflicts_between(mine, [other(cis=["mail-1"])], GRAPH) == []
    for state in (State.NEW, State.AUTHORIZE, State.REVIEW, State.CLOSED, State.CANCELED):
        assert conflicts_between(mine, [other(state)], GRAPH) == []
    assert conflicts_between(change_in(State.AUTHORIZE), [other()], GRAPH) == []


def test_a_new_conflict_is_published_once_a_vanished_one_moves_the_version_on():
    mine = change_in(State.SCHEDULED)
    found = conflicts_between(mine, [other()], GRAPH)
    mine.note_conflicts(found, T0)
    [(_, event)] = mine.events
    assert isinstance(event, ChangeConflictDetected) and event.other_number == "CHG0001002"
    assert mine.conflicts == found and mine.version == 4
    mine.note_conflicts(found, T0)
    assert mine.version == 4 and len(mine.events) == 1
    mine.note_conflicts([], T0)
    assert mine.conflicts == [] and mine.version == 5 and len(mine.events) == 1


def test_noting_conflicts_with_one_change_keeps_those_with_others():
    mine = change_in(State.SCHEDULED)
    kept = {"change_id": "c-9", "number": "CHG0001009", "ci": "db-1", "other_ci": "db-1", "relation": "same_ci",
            "reason": "x"}
    mine.conflicts = [kept]
    mine.note_conflicts([], T0, with_change="c-2")
    assert mine.conflicts == [kept] and mine.version == 3


# -- deployments -------------------------------------------------------------------------------------------------

def test_a_finished_deployment_is_an_implemented_standard_change_awaiting_review():
    change = ChangeRequest.deployed(
        id="c-7", number="CHG0001007", deployment_id="run-42", ci="app-1", what="checkout", version="1.4.2",
        pipeline_url="https://ci.example.org/run/42", started_at=START, finished_at=END, outcome="succeeded", at=END,
        actor="integration:ci")
    assert change.change_type is ChangeType.STANDARD and change.state is State.REVIEW
    assert change.affected_cis == ["app-1"] and change.deployment["version"] == "1.4.2"
    assert (change.planned_start, change.planned_end, change.implemented_at) == (START, END, START)
    kinds = [type(e) for _, e in change.events]
    assert kinds[0] is ChangeRequested and ChangeImplemented in kinds
    running = ChangeRequest.deployed(
        id="c-8", number="CHG0001008", deployment_id="run-43", ci="app-1", what="checkout", version="1.4.3",
        pipeline_url=None, started_at=START, finished_at=None, outcome=None, at=START, actor="integration:ci")
    assert running.state is State.IMPLEMENT and running.planned_end > running.planned_start
