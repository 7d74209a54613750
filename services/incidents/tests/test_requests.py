"""What incidents take from the requests service (issue 17), with no database and no broker: dispatch decisions
(taken unless someone assigned the incident meanwhile) and work-order templates' fields."""

from datetime import UTC, datetime, timedelta

import pytest

from itsm_contracts.api.incidents import IncidentUpdate
from itsm_contracts.events.incidents import (
    IncidentAssigned, IncidentPriorityChanged, IncidentUpdated, IncidentWorkNoteAdded,
)
from itsm_contracts.events.requests import RecordDispatched, WorkOrderApplied
from itsm_incidents.domain import ActivityKind, Incident, State
from itsm_kit.work_orders import checked_by

T0 = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
T1 = T0 + timedelta(minutes=1)


def new_incident(**overrides) -> Incident:
    args = dict(id="i-1", number="INC0001001", short_description="VPN drops", description="", impact=2, urgency=2,
                origin="manual", at=T0)
    incident = Incident.open(**args | overrides)
    incident.events.clear()
    incident.activity.clear()
    return incident


def decision(group: str | None = "NetOps", assignee: str | None = "alice", *, at: datetime = T0,
             rule: str | None = "Network to NetOps", version: int | None = 3, method: str | None = "round_robin",
             record_id: str = "i-1") -> RecordDispatched:
    return RecordDispatched(record_type="incident", record_id=record_id, assignment_group=group, assignee=assignee,
                            dispatch_rule=rule, dispatch_rule_version=version, method=method, decided_at=at)


def notes(incident: Incident) -> list[str]:
    return [a.text for a in incident.activity if a.kind is ActivityKind.WORK_NOTE]


def test_an_unassigned_incident_takes_the_decisions_group_and_assignee_through_the_assign_path():
    incident = new_incident()
    assert incident.take_dispatch(decision(), T1)
    assert (incident.assignment_group, incident.assignee) == ("NetOps", "alice")
    assigned = [e for _, e in incident.events if isinstance(e, IncidentAssigned)]
    assert [(a.assignment_group, a.assignee, a.actor) for a in assigned] == [("NetOps", "alice", "dispatch")]
    assert any(isinstance(e, IncidentWorkNoteAdded) for _, e in incident.events)
    assert notes(incident) == ["Assigned to NetOps (alice) by dispatch rule 'Network to NetOps' (version 3); "
                               "assignee by round robin."]


def test_an_incident_with_the_decisions_group_and_no_assignee_takes_only_the_assignee():
    incident = new_incident(assignment_group="NetOps")
    assert incident.take_dispatch(decision(), T1)
    assert (incident.assignment_group, incident.assignee) == ("NetOps", "alice")
    assert incident.reassignment_count == 0  # filling an empty assignee is no reassignment


@pytest.mark.parametrize(("group", "assignee"), [
    ("ServiceDesk", None),      # a person (or an alert's routing) chose another group
    ("NetOps", "bob"),          # someone chose the person already
    ("ServiceDesk", "carol"),
    (None, "dave"),             # a person named without a group: still a person's choice
])
def test_an_incident_someone_assigned_meanwhile_keeps_that_assignment(group, assignee):
    incident = new_incident(assignment_group=group, assignee=assignee)
    assert not incident.take_dispatch(decision(), T1)
    assert (incident.assignment_group, incident.assignee) == (group, assignee)
    assert incident.events == [] and incident.activity == []


@pytest.mark.parametrize("state", [State.RESOLVED, State.CLOSED, State.CANCELED])
def test_an_incident_no_longer_open_is_not_assigned(state):
    incident = new_incident()
    if state is State.CANCELED:
        incident.move_to(State.CANCELED, T0)
    else:
        incident.resolve("fixed", "it works again", T0)
        if state is State.CLOSED:
            incident.close(T0)
    incident.events.clear()
    incident.activity.clear()
    assert not incident.take_dispatch(decision(), T1)
    assert incident.assignment_group is None and incident.events == []


def test_an_older_decision_arriving_later_does_not_undo_a_newer_one():
    incident = new_incident()
    assert incident.take_dispatch(decision("NetOps", None, at=T0 + timedelta(seconds=5), method="none"), T1)
    # The older decision named a person in the same group: the newer one (nobody) stands.
    assert not incident.take_dispatch(decision("NetOps", "alice", at=T0), T1)
    assert (incident.assignment_group, incident.assignee) == ("NetOps", None)


def test_a_decision_with_no_group_changes_nothing():
    incident = new_incident()
    assert not incident.take_dispatch(decision(None, None, rule=None, version=None, method=None), T1)
    assert incident.events == []


def test_the_note_says_when_nobody_was_chosen_and_when_no_rule_chose_the_group():
    incident = new_incident()
    incident.take_dispatch(decision("NetOps", None, method="none"), T1)
    assert notes(incident) == ["Assigned to NetOps by dispatch rule 'Network to NetOps' (version 3); no assignee "
                               "(the group's method names nobody)."]
    other = new_incident(id="i-2", assignment_group="NetOps")
    other.take_dispatch(decision("NetOps", "erin", rule=None, version=None, method="least_loaded", record_id="i-2"),
                        T1)
    assert notes(other) == ["Assigned to NetOps (erin) by dispatch (no rule: the group came with the record); "
                            "assignee by least loaded."]


# -- work-order templates -----------------------------------------------------------------------------------------

def applied(fields: dict, *, tasks=("TASK0001001", "TASK0001002"), ids=("t-1", "t-2")) -> WorkOrderApplied:
    return WorkOrderApplied(template="VPN outage", record_type="incident", record_id="i-1", fields=fields,
                            task_ids=list(ids), task_numbers=list(tasks), applied_at=T0, actor="agent-7")


CHECK = checked_by(IncidentUpdate)


def test_a_templates_fields_are_set_as_a_patch_would_with_a_line_naming_the_template_and_its_tasks():
    incident = new_incident()
    assert incident.apply_work_order(applied({"category": "network", "impact": 1, "urgency": 1,
                                              "assignment_group": "NetOps"}), T1, check=CHECK)
    assert (incident.category, incident.priority, incident.assignment_group) == ("network", 1, "NetOps")
    kinds = {type(e) for _, e in incident.events}
    assert {IncidentUpdated, IncidentPriorityChanged, IncidentAssigned, IncidentWorkNoteAdded} <= kinds
    assert notes(incident) == ["Work order template 'VPN outage' applied (tasks TASK0001001, TASK0001002)."]
    assert {a.actor for a in incident.activity} == {"agent-7"}


def test_an_unknown_field_or_a_value_refused_now_is_skipped_and_said_while_the_rest_is_set():
    incident = new_incident()
    assert incident.apply_work_order(applied({"colour": "red", "parent_id": "i-9", "impact": 7, "short_description": "",
                                              "subcategory": "vpn"}), T1, check=CHECK)
    assert (incident.subcategory, incident.impact, incident.short_description) == ("vpn", 2, "VPN drops")
    [note] = notes(incident)
    assert note.startswith("Work order template 'VPN outage' applied (tasks TASK0001001, TASK0001002). Not set: ")
    for name in ("colour", "parent_id", "impact", "short_description"):
        assert f"{name} (" in note


def test_fields_that_only_go_together_are_set_together():
    incident = new_incident()
    incident.apply_work_order(applied({"priority": 1, "priority_override_reason": "CEO's laptop"}), T1, check=CHECK)
    assert (incident.priority, incident.priority_override_reason) == (1, "CEO's laptop")
    assert "Not set" not in notes(incident)[0]


def test_a_template_with_nothing_to_set_still_says_its_tasks_and_tasks_without_numbers_go_by_id():
    incident = new_incident()
    assert incident.apply_work_order(applied({}, tasks=()), T1, check=CHECK)
    assert notes(incident) == ["Work order template 'VPN outage' applied (tasks t-1, t-2)."]


@pytest.mark.parametrize("state", [State.RESOLVED, State.CLOSED])
def test_a_resolved_or_closed_incident_takes_no_template(state):
    incident = new_incident()
    incident.resolve("fixed", "it works again", T0)
    if state is State.CLOSED:
        incident.close(T0)
    incident.events.clear()
    incident.activity.clear()
    assert not incident.apply_work_order(applied({"category": "network"}), T1, check=CHECK)
    assert incident.category is None and incident.events == [] and incident.activity == []
