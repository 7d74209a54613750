"""Incidents following their problem (the problems service's events), with no database and no broker."""

from datetime import UTC, datetime

import pytest

from itsm_contracts.events.incidents import IncidentResolved, IncidentStateChanged, IncidentUpdated
from itsm_incidents.domain import PROBLEM_RESOLUTION_CODE, ActivityKind, Incident, State

T0 = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
T1 = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)


def incident(state: State = State.NEW, *, problem_id: str | None = None) -> Incident:
    opened = Incident.open(id="i-1", number="INC1", short_description="Checkout fails", description="", impact=2,
                           urgency=2, origin="manual", at=T0, actor="agent-1")
    if state is State.RESOLVED:
        opened.resolve("fixed", "Restarted", T0)
    elif state is State.CLOSED:
        opened.resolve("fixed", "Restarted", T0)
        opened.close(T0)
    elif state is not State.NEW:
        opened.move_to(state, T0, "awaiting_vendor" if state is State.ON_HOLD else None)
    opened.problem_id = problem_id
    opened.events.clear()
    opened.activity.clear()
    return opened


def field_lines(found: Incident) -> list[tuple[str, str | None, str | None, str]]:
    return [(a.field, a.old_value, a.new_value, a.actor) for a in found.activity if a.kind is ActivityKind.FIELD]


def test_a_link_sets_the_problem_with_a_timeline_line_by_the_events_actor():
    found = incident()
    version = found.version
    assert found.link_problem("p-1", T1, actor="agent-7")
    assert found.problem_id == "p-1" and found.version == version + 1 and found.updated_at == T1
    assert field_lines(found) == [("problem_id", None, "p-1", "agent-7")]
    [(_, event)] = found.events
    assert isinstance(event, IncidentUpdated) and event.changes == {"problem_id": "p-1"} and event.actor == "agent-7"


def test_linking_again_to_the_same_problem_changes_nothing():
    found = incident(problem_id="p-1")
    assert not found.link_problem("p-1", T1, actor="agent-7")
    assert found.events == [] and found.activity == []


def test_a_link_to_another_problem_moves_it():
    found = incident(problem_id="p-1")
    assert found.link_problem("p-2", T1, actor="agent-7")
    assert field_lines(found) == [("problem_id", "p-1", "p-2", "agent-7")]


def test_an_unlink_clears_the_problem_it_names():
    found = incident(problem_id="p-1")
    assert found.unlink_problem("p-1", T1, actor="agent-7")
    assert found.problem_id is None
    assert field_lines(found) == [("problem_id", "p-1", None, "agent-7")]
    [(_, event)] = found.events
    assert isinstance(event, IncidentUpdated) and event.changes == {"problem_id": None}


@pytest.mark.parametrize("linked", [None, "p-2"])
def test_an_unlink_from_another_problem_leaves_the_link_alone(linked):
    found = incident(problem_id=linked)
    assert not found.unlink_problem("p-1", T1, actor="agent-7")
    assert found.problem_id == linked and found.events == [] and found.activity == []


@pytest.mark.parametrize("state", [State.NEW, State.IN_PROGRESS, State.ON_HOLD])
def test_a_resolved_problem_resolves_an_open_incident_with_its_notes(state):
    found = incident(state, problem_id="p-1")
    assert found.resolve_by_problem("p-1", "fix_applied", "patched", T1, actor="agent-7")
    assert found.state is State.RESOLVED and found.resolved_at == T1
    assert found.resolution_code == PROBLEM_RESOLUTION_CODE == "resolved_by_problem"
    assert "p-1" in found.resolution_notes and "patched" in found.resolution_notes
    types = [type(e) for _, e in found.events]
    assert types == [IncidentStateChanged, IncidentResolved]
    assert all(e.actor == "agent-7" for _, e in found.events)


@pytest.mark.parametrize("state", [State.RESOLVED, State.CLOSED, State.CANCELED])
def test_a_resolved_problem_leaves_incidents_no_longer_open_alone(state):
    found = incident(state, problem_id="p-1")
    before = (found.state, found.resolution_code, found.resolution_notes, found.version)
    assert not found.resolve_by_problem("p-1", "fix_applied", "patched", T1, actor="agent-7")
    assert (found.state, found.resolution_code, found.resolution_notes, found.version) == before
    assert found.events == []


def test_children_follow_a_parent_resolved_by_its_problem():
    parent, child = incident(problem_id="p-1"), incident()
    child.parent_id = parent.id
    parent.resolve_by_problem("p-1", "fix_applied", "patched", T1, actor="agent-7")
    child.follow(parent, T1, actor="agent-7")
    assert child.state is State.RESOLVED
    assert (child.resolution_code, child.resolution_notes) == (parent.resolution_code, parent.resolution_notes)
