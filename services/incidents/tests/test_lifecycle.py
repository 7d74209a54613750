"""The incident lifecycle rules (ServiceNow's), with no database and no broker."""

from datetime import UTC, datetime, timedelta

import pytest

from itsm_contracts.events.incidents import (
    IncidentAssigned, IncidentCanceled, IncidentClosed, IncidentCommented, IncidentOpened, IncidentPriorityChanged,
    IncidentReopened, IncidentResolved, IncidentStateChanged, IncidentUpdated, IncidentWorkNoteAdded,
)
from itsm_incidents.domain import (
    CHILDREN_FOLLOW, Activity, ActivityKind, Incident, State, is_due_for_auto_close, is_reassignment, valid_matrix,
)
from itsm_kit.domain import DEFAULT_PRIORITY_MATRIX, Conflict, InvalidTransition, InvalidValue

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
WEEK = timedelta(days=7)


def incident(id: str = "i-1", *, state: State = State.NEW, **fields) -> Incident:
    """An incident as loaded: opened, moved to `state`, events and timeline already stored."""
    opened = Incident.open(id=id, number=f"INC-{id}", short_description="Mail is slow", description="", impact=2,
                           urgency=2, origin="manual", at=T0, actor="agent-1", **fields)
    if state is State.RESOLVED:
        opened.resolve("fixed", "Restarted the queue", T0)
    elif state is State.CLOSED:
        opened.resolve("fixed", "Restarted the queue", T0)
        opened.close(T0)
    elif state is State.ON_HOLD:
        opened.move_to(State.ON_HOLD, T0, "awaiting_vendor")
    elif state is not State.NEW:
        opened.move_to(state, T0)
    opened.events.clear()
    opened.activity.clear()
    return opened


def raised(incident: Incident) -> list[type]:
    return [type(e) for _, e in incident.events]


def field_changes(incident: Incident) -> list[tuple[str, str | None, str | None, str]]:
    return [(a.field, a.old_value, a.new_value, a.actor) for a in incident.activity if a.kind is ActivityKind.FIELD]


# -- opening ---------------------------------------------------------------------------------


def test_opening_keeps_the_servicenow_fields_and_writes_one_timeline_line():
    opened = Incident.open(id="i-1", number="INC1", short_description=" Mail is slow ", description="since 9",
                           impact=1, urgency=2, origin="manual", at=T0, actor="agent-1", caller="u-9",
                           category="email", subcategory="delivery", assignment_group="messaging", assignee="a-2",
                           affected_ci="mx-1", business_service="email", major=True)
    assert (opened.caller, opened.category, opened.subcategory, opened.assignment_group, opened.assignee,
            opened.affected_ci, opened.business_service, opened.major) == (
        "u-9", "email", "delivery", "messaging", "a-2", "mx-1", "email", True)
    assert opened.reassignment_count == 0 and opened.priority == 2
    [(_, event)] = opened.events
    assert isinstance(event, IncidentOpened) and event.caller == "u-9" and event.major and event.actor == "agent-1"
    assert opened.activity == [Activity(ActivityKind.OPENED, "agent-1", T0, new_value="INC1", text="Mail is slow")]


def test_opening_uses_the_matrix_it_is_given():
    flat = {cell: 4 for cell in DEFAULT_PRIORITY_MATRIX}
    opened = Incident.open(id="i", number="INC1", short_description="x", description="", impact=1, urgency=1,
                           origin="manual", at=T0, matrix=flat)
    assert opened.priority == 4


def test_monitoring_opens_as_monitoring_and_people_default_to_system():
    by_monitoring = Incident.open(id="i", number="INC1", short_description="x", description="", impact=1, urgency=1,
                                  origin="monitoring", at=T0, dedup_key="fp")
    by_hand = Incident.open(id="j", number="INC2", short_description="x", description="", impact=1, urgency=1,
                            origin="manual", at=T0)
    assert by_monitoring.activity[0].actor == "monitoring" and by_hand.activity[0].actor == "system"


# -- states ----------------------------------------------------------------------------------


def test_every_state_change_is_on_the_timeline_with_who():
    moving = incident()
    moving.move_to(State.ON_HOLD, T0, "awaiting_change", actor="agent-2")
    assert field_changes(moving) == [("state", "new", "on_hold", "agent-2"),
                                     ("hold_reason", None, "awaiting_change", "agent-2")]
    [(_, event)] = moving.events
    assert isinstance(event, IncidentStateChanged) and event.actor == "agent-2"


@pytest.mark.parametrize("reason", [None, "awaiting_godot"])
def test_on_hold_needs_a_known_reason_and_only_on_hold_takes_one(reason):
    with pytest.raises(InvalidValue) as caught:
        incident().move_to(State.ON_HOLD, T0, reason)
    assert "awaiting_caller" in str(caught.value)
    with pytest.raises(InvalidValue):
        incident().move_to(State.IN_PROGRESS, T0, "awaiting_vendor")


def test_awaiting_caller_needs_a_comment_which_the_caller_sees():
    with pytest.raises(InvalidValue):
        incident().move_to(State.ON_HOLD, T0, "awaiting_caller", actor="agent-1")
    with pytest.raises(InvalidValue):
        incident().move_to(State.ON_HOLD, T0, "awaiting_caller", actor="agent-1", comment="  ")
    held = incident()
    held.move_to(State.ON_HOLD, T0, "awaiting_caller", actor="agent-1", comment="Which printer is it?")
    assert held.state is State.ON_HOLD and held.hold_reason == "awaiting_caller"
    assert raised(held) == [IncidentStateChanged, IncidentCommented]
    assert held.activity[-1] == Activity(ActivityKind.COMMENT, "agent-1", T0, text="Which printer is it?")


def test_a_comment_from_the_caller_ends_awaiting_caller():
    held = incident(caller="u-9")
    held.move_to(State.ON_HOLD, T0, "awaiting_caller", actor="agent-1", comment="Which printer?")
    held.comment("The one on floor 3", T0, actor="agent-1")  # not the caller: still waiting
    assert held.state is State.ON_HOLD
    held.comment("The one on floor 3", T0, actor="u-9")
    assert held.state is State.IN_PROGRESS and held.hold_reason is None
    assert raised(held)[-2:] == [IncidentCommented, IncidentStateChanged]


@pytest.mark.parametrize("reason", ["awaiting_vendor", "awaiting_change", "awaiting_problem"])
def test_a_caller_comment_leaves_other_holds_alone(reason):
    held = incident(caller="u-9")
    held.move_to(State.ON_HOLD, T0, reason)
    held.comment("any news?", T0, actor="u-9")
    assert held.state is State.ON_HOLD


def test_comments_and_work_notes_are_separate_and_must_say_something():
    working = incident()
    working.comment("We are on it", T0, actor="agent-1")
    working.add_work_note("Suspect the MX queue", T0, actor="agent-1")
    assert raised(working) == [IncidentCommented, IncidentWorkNoteAdded]
    assert [a.kind for a in working.activity] == [ActivityKind.COMMENT, ActivityKind.WORK_NOTE]
    with pytest.raises(InvalidValue):
        working.add_work_note(" ", T0, actor="agent-1")
    with pytest.raises(InvalidValue):
        working.comment("", T0, actor="agent-1")


def test_resolving_is_its_own_command():
    with pytest.raises(InvalidValue):
        incident().move_to(State.RESOLVED, T0)


def test_closing_and_canceling_publish_their_own_event_besides_state_changed():
    closing = incident(state=State.RESOLVED)
    closing.move_to(State.CLOSED, T0 + timedelta(days=1), actor="agent-1")
    assert raised(closing) == [IncidentStateChanged, IncidentClosed]
    assert closing.closed_at == T0 + timedelta(days=1) and closing.events[-1][1].automatically is False
    canceling = incident()
    canceling.move_to(State.CANCELED, T0, actor="agent-1")
    assert raised(canceling) == [IncidentStateChanged, IncidentCanceled]
    with pytest.raises(InvalidTransition):
        incident().move_to(State.CLOSED, T0)  # only a resolved incident closes


# -- reopen ----------------------------------------------------------------------------------


def test_reopening_within_the_window_clears_the_resolution_and_counts():
    resolved = incident(state=State.RESOLVED)
    resolved.move_to(State.IN_PROGRESS, T0 + WEEK, actor="u-9", reopen_window=WEEK)
    assert resolved.state is State.IN_PROGRESS and resolved.reopen_count == 1
    assert (resolved.resolved_at, resolved.resolution_code, resolved.resolution_notes) == (None, None, None)
    assert raised(resolved) == [IncidentStateChanged, IncidentReopened]  # sla sees resolved -> in_progress
    assert resolved.events[0][1].from_state == "resolved"
    assert ("resolution_code", "fixed", None, "u-9") in field_changes(resolved)


def test_reopening_after_the_window_is_a_conflict_that_says_why():
    resolved = incident(state=State.RESOLVED)
    with pytest.raises(Conflict) as caught:
        resolved.move_to(State.IN_PROGRESS, T0 + WEEK + timedelta(seconds=1), reopen_window=WEEK)
    assert "7 days after resolution" in str(caught.value)
    assert caught.value.details["reopen_deadline"] == (T0 + WEEK).isoformat()
    assert resolved.state is State.RESOLVED and resolved.events == []


# -- auto-close ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "major", "resolved_for", "after", "due"),
    [
        (State.RESOLVED, False, WEEK, WEEK, True),
        (State.RESOLVED, False, WEEK - timedelta(seconds=1), WEEK, False),
        (State.RESOLVED, True, 10 * WEEK, WEEK, False),     # never a major incident
        (State.RESOLVED, False, 10 * WEEK, timedelta(0), False),  # 0 disables auto-close
        (State.IN_PROGRESS, False, 10 * WEEK, WEEK, False),
        (State.CLOSED, False, 10 * WEEK, WEEK, False),
    ],
)
def test_auto_close_is_due_after_the_setting_never_for_major(state, major, resolved_for, after, due):
    candidate = incident(state=state, major=major)
    candidate.resolved_at = T0
    assert is_due_for_auto_close(candidate, T0 + resolved_for, after) is due


def test_auto_closing_says_so_on_its_event():
    resolved = incident(state=State.RESOLVED)
    resolved.close(T0 + WEEK, actor="system", automatically=True)
    assert resolved.events[-1][1].automatically is True and resolved.state is State.CLOSED


# -- assignment ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "after", "counts"),
    [
        ((None, None), ("service-desk", None), False),       # first assignment
        (("service-desk", None), ("service-desk", "a-1"), False),  # a person named within the group
        ((None, None), ("service-desk", "a-1"), False),
        (("service-desk", "a-1"), ("service-desk", "a-2"), True),
        (("service-desk", "a-1"), ("network", None), True),
        (("service-desk", None), ("network", None), True),
        (("service-desk", "a-1"), ("network", "a-3"), True),  # both at once: one reassignment
        (("service-desk", "a-1"), ("service-desk", None), True),
    ],
)
def test_what_counts_as_a_reassignment(before, after, counts):
    assert is_reassignment(*before, *after) is counts


def test_assignment_counts_reassignments_and_publishes_assigned():
    working = incident()
    working.update({"assignment_group": "service-desk"}, T0, actor="agent-1")
    working.update({"assignee": "a-1"}, T0, actor="agent-1")
    working.update({"assignment_group": "network", "assignee": None}, T0, actor="agent-1")
    working.update({"assignee": "a-3"}, T0, actor="agent-1")
    assert working.reassignment_count == 1
    assert raised(working) == [IncidentAssigned] * 4
    last = working.events[-1][1]
    assert (last.previous_assignment_group, last.assignment_group, last.assignee, last.reassignment_count) == (
        "network", "network", "a-3", 1)
    working.update({"assignee": "a-3"}, T0, actor="agent-1")  # no change, no event
    assert len(working.events) == 4


# -- fields and priority ---------------------------------------------------------------------


def test_plain_field_changes_are_one_updated_event_naming_them():
    working = incident()
    working.update({"category": "email", "description": "Since 9am", "major": True, "affected_ci": "mx-1"}, T0,
                   actor="agent-1")
    [(_, event)] = working.events
    assert isinstance(event, IncidentUpdated)
    assert event.changes == {"category": "email", "description": "Since 9am", "major": True, "affected_ci": "mx-1"}
    assert ("major", "false", "true", "agent-1") in field_changes(working)


@pytest.mark.parametrize(
    "changes", [{}, {"state": "closed"}, {"number": "INC9"}, {"short_description": " "}, {"major": None},
                {"impact": 4}, {"priority": 1}, {"priority": 9, "priority_override_reason": "x"},
                {"priority_override_reason": "VIP"}],
)
def test_a_bad_update_is_refused(changes):
    with pytest.raises(InvalidValue):
        incident().update(changes, T0, actor="agent-1")


def test_impact_and_urgency_reprioritise_with_the_given_matrix():
    working = incident()
    custom = dict(DEFAULT_PRIORITY_MATRIX) | {(1, 1): 2}
    working.update({"impact": 1, "urgency": 1}, T0, actor="agent-1", matrix=custom)
    assert working.priority == 2
    assert raised(working) == [IncidentPriorityChanged]
    working.update({"impact": 1}, T0, actor="agent-1", matrix=custom)  # unchanged: nothing happens
    assert len(working.events) == 1


def test_impact_changing_without_the_priority_is_an_update():
    working = incident()  # 2/2 -> P3
    working.update({"impact": 1, "urgency": 3}, T0, actor="agent-1")  # 1/3 -> P3
    [(_, event)] = working.events
    assert isinstance(event, IncidentUpdated) and event.changes == {"impact": 1, "urgency": 3}


def test_a_priority_override_needs_a_reason_and_lapses_when_impact_or_urgency_change():
    working = incident()  # P3
    working.update({"priority": 1, "priority_override_reason": "the CEO is affected"}, T0, actor="agent-1")
    assert (working.priority, working.priority_override_reason) == (1, "the CEO is affected")
    override = working.events[-1][1]
    assert isinstance(override, IncidentPriorityChanged) and override.override_reason == "the CEO is affected"
    working.update({"category": "email"}, T0, actor="agent-1")  # other changes keep the override
    assert working.priority == 1
    working.update({"urgency": 3}, T0, actor="agent-1")  # 2/3 -> P4 from the matrix again
    assert (working.priority, working.priority_override_reason) == (4, None)
    again = working.events[-1][1]
    assert isinstance(again, IncidentPriorityChanged) and again.override_reason is None and again.from_priority == 1


def test_priority_null_ends_an_override_and_is_a_no_op_without_one():
    working = incident()  # 2/2 -> P3
    working.update({"priority": None}, T0, actor="agent-1")
    assert working.events == []
    working.update({"priority": 1, "priority_override_reason": "VIP"}, T0, actor="agent-1")
    working.update({"priority": None}, T0, actor="agent-1")
    assert (working.priority, working.priority_override_reason) == (3, None)
    back = working.events[-1][1]
    assert isinstance(back, IncidentPriorityChanged) and (back.from_priority, back.to_priority) == (1, 3)
    with pytest.raises(InvalidValue):
        working.update({"priority": None, "priority_override_reason": "VIP"}, T0, actor="agent-1")


def test_an_override_lapsing_on_the_same_priority_still_publishes_priority_changed():
    working = incident()  # 2/2 -> P3
    working.update({"priority": 3, "priority_override_reason": "keep it moderate"}, T0, actor="agent-1")
    working.update({"impact": 1, "urgency": 3}, T0, actor="agent-1")  # 1/3 -> P3 too
    assert working.priority_override_reason is None
    assert isinstance(working.events[-1][1], IncidentPriorityChanged)


@pytest.mark.parametrize(
    ("cells", "ok"),
    [
        ([(i, u, p) for (i, u), p in DEFAULT_PRIORITY_MATRIX.items()], True),
        ([(i, u, 1) for (i, u) in DEFAULT_PRIORITY_MATRIX], True),
        ([(i, u, p) for (i, u), p in DEFAULT_PRIORITY_MATRIX.items()][:8], False),
        ([(i, u, p) for (i, u), p in DEFAULT_PRIORITY_MATRIX.items()][:8] + [(1, 1, 1)], False),  # a duplicate
        ([(i, u, p) for (i, u), p in DEFAULT_PRIORITY_MATRIX.items()] + [(4, 1, 1)], False),
        ([(i, u, 6 if (i, u) == (3, 3) else p) for (i, u), p in DEFAULT_PRIORITY_MATRIX.items()], False),
        ([(i, u, 0 if (i, u) == (1, 1) else p) for (i, u), p in DEFAULT_PRIORITY_MATRIX.items()], False),
    ],
)
def test_a_priority_matrix_has_all_nine_cells_once_each_1_to_5(cells, ok):
    if ok:
        assert valid_matrix(cells) == {(i, u): p for i, u, p in cells}
    else:
        with pytest.raises(InvalidValue):
            valid_matrix(cells)


# -- parent / child --------------------------------------------------------------------------


def parent_and_child(child_state: State = State.NEW, **child_fields) -> tuple[Incident, Incident]:
    parent = incident("p")
    child = incident("c", state=child_state, parent=parent, **child_fields)
    return parent, child


def test_children_follow_their_parent_into_in_progress_on_hold_and_resolved_with_the_resolution():
    parent, child = parent_and_child()
    parent.move_to(State.IN_PROGRESS, T0)
    child.follow(parent, T0, actor="agent-1")
    assert child.state is State.IN_PROGRESS
    parent.move_to(State.ON_HOLD, T0, "awaiting_vendor")
    child.follow(parent, T0, actor="agent-1")
    assert (child.state, child.hold_reason) == (State.ON_HOLD, "awaiting_vendor")
    parent.resolve("fixed_by_vendor", "The vendor patched the firmware", T0, actor="agent-1")
    child.follow(parent, T0, actor="agent-1")
    assert (child.state, child.resolution_code, child.resolution_notes) == (
        State.RESOLVED, "fixed_by_vendor", "The vendor patched the firmware")
    assert raised(child)[-2:] == [IncidentStateChanged, IncidentResolved]
    assert {a.actor for a in child.activity} == {"agent-1"}


def test_children_stay_when_the_parent_awaits_its_own_caller():
    parent, child = parent_and_child()
    parent.move_to(State.ON_HOLD, T0, "awaiting_caller", comment="Which site?")
    child.follow(parent, T0, actor="agent-1")
    assert child.state is State.NEW and child.events == []


def test_a_parents_reopen_reopens_resolved_children_but_closing_never_closes_them():
    parent, child = parent_and_child()
    parent.resolve("fixed", "done", T0)
    child.follow(parent, T0, actor="agent-1")
    parent.move_to(State.IN_PROGRESS, T0 + timedelta(days=1), reopen_window=WEEK)
    child.follow(parent, T0 + timedelta(days=1), actor="agent-1")
    assert child.state is State.IN_PROGRESS and child.reopen_count == 1
    parent.resolve("fixed", "done", T0)
    child.follow(parent, T0, actor="agent-1")
    parent.close(T0)
    child.follow(parent, T0, actor="agent-1")
    assert child.state is State.RESOLVED


@pytest.mark.parametrize("parent_state", list(State))
@pytest.mark.parametrize("child_state", [State.CLOSED, State.CANCELED])
def test_final_children_never_move(parent_state, child_state):
    parent, child = parent_and_child(child_state)
    parent.state, parent.hold_reason = parent_state, "awaiting_vendor"
    parent.resolution_code = parent.resolution_notes = "x"
    child.follow(parent, T0, actor="agent-1")
    assert child.state is child_state and child.events == []
    assert child_state not in set().union(*CHILDREN_FOLLOW.values())


def test_parent_links_are_one_level_deep_and_never_to_oneself_or_a_closed_incident():
    parent, child = parent_and_child()
    grandchild = incident("g")
    with pytest.raises(InvalidValue, match="itself a child"):
        grandchild.update({"parent_id": "c"}, T0, actor="agent-1", parent=child)
    with pytest.raises(InvalidValue, match="parent itself"):
        parent.update({"parent_id": "g"}, T0, actor="agent-1", parent=grandchild, has_children=True)
    with pytest.raises(InvalidValue, match="own parent"):
        grandchild.update({"parent_id": "g"}, T0, actor="agent-1", parent=grandchild)
    with pytest.raises(InvalidValue, match="does not exist"):
        grandchild.update({"parent_id": "nope"}, T0, actor="agent-1", parent=None)
    with pytest.raises(Conflict):
        grandchild.update({"parent_id": "x"}, T0, actor="agent-1", parent=incident("x", state=State.CLOSED))
    grandchild.update({"parent_id": "p"}, T0, actor="agent-1", parent=parent)
    assert grandchild.parent_id == "p" and grandchild.events[-1][1].changes == {"parent_id": "p"}
    grandchild.update({"parent_id": None}, T0, actor="agent-1")
    assert grandchild.parent_id is None
