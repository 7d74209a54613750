"""Incidents following their problem (the problems service's events), with no database and no broker."""

from datetime import UTC, datetime

import pytest

from itsm_contracts.events.incidents import (
    IncidentProblemLinked, IncidentProblemUnlinked, IncidentResolved, IncidentStateChanged, IncidentUpdated,
    IncidentWorkNoteAdded,
)
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


# -- links from the incident's side, refusals and known errors (issue 14) ---------------------------------------


def events_of(found: Incident) -> list:
    return [e for _, e in found.events]


@pytest.mark.parametrize("state", list(State))
def test_an_agent_links_an_incident_to_a_problem_in_any_state(state):
    found = incident(state)
    version = found.version
    assert found.link_to_problem("p-1", T1, actor="agent-7")
    assert found.problem_id == "p-1" and found.version == version + 1 and found.state is state
    assert field_lines(found) == [("problem_id", None, "p-1", "agent-7")]
    [event] = events_of(found)
    assert isinstance(event, IncidentProblemLinked)
    assert (event.problem_id, event.previous_problem_id, event.linked_at, event.actor) == ("p-1", None, T1, "agent-7")


def test_an_agent_linking_to_another_problem_names_the_one_it_left():
    found = incident(problem_id="p-1")
    assert found.link_to_problem("p-2", T1, actor="agent-7")
    [event] = events_of(found)
    assert isinstance(event, IncidentProblemLinked) and (event.problem_id, event.previous_problem_id) == ("p-2", "p-1")
    assert field_lines(found) == [("problem_id", "p-1", "p-2", "agent-7")]


def test_an_agent_linking_again_to_the_same_problem_raises_nothing():
    found = incident(problem_id="p-1")
    assert not found.link_to_problem("p-1", T1, actor="agent-7")
    assert found.events == [] and found.activity == []


def test_an_agent_unlinks_an_incident_from_its_problem():
    found = incident(State.CLOSED, problem_id="p-1")
    assert found.unlink_from_problem(T1, actor="agent-7")
    assert found.problem_id is None
    assert field_lines(found) == [("problem_id", "p-1", None, "agent-7")]
    [event] = events_of(found)
    assert isinstance(event, IncidentProblemUnlinked) and (event.problem_id, event.actor) == ("p-1", "agent-7")


def test_unlinking_an_incident_with_no_problem_raises_nothing():
    found = incident()
    assert not found.unlink_from_problem(T1, actor="agent-7")
    assert found.events == [] and found.activity == []


def test_a_link_from_the_problems_side_tells_the_previous_problem_to_drop_the_incident():
    found = incident(problem_id="p-1")
    assert found.link_problem("p-2", T1, actor="agent-7")
    updated, unlinked = events_of(found)
    assert isinstance(updated, IncidentUpdated) and updated.changes == {"problem_id": "p-2"}
    assert isinstance(unlinked, IncidentProblemUnlinked) and unlinked.problem_id == "p-1"


def test_a_link_from_the_problems_side_is_not_echoed_back_as_an_incident_side_link():
    found = incident()
    assert found.link_problem("p-1", T1, actor="agent-7")
    assert not [e for e in events_of(found) if isinstance(e, IncidentProblemLinked | IncidentProblemUnlinked)]


def test_a_refused_link_is_taken_back_with_a_work_note_saying_why():
    found = incident(problem_id="p-1")
    assert found.problem_refused_link("p-1", "the problem is closed", T1, actor="system")
    assert found.problem_id is None
    assert field_lines(found) == [("problem_id", "p-1", None, "system")]
    updated, noted = events_of(found)
    assert isinstance(updated, IncidentUpdated) and updated.changes == {"problem_id": None}
    assert isinstance(noted, IncidentWorkNoteAdded)
    assert "refused" in noted.text and "the problem is closed" in noted.text
    [note] = [a for a in found.activity if a.kind is ActivityKind.WORK_NOTE]
    assert "p-1" in note.text


@pytest.mark.parametrize("linked", [None, "p-2"])
def test_a_refusal_of_a_link_the_incident_no_longer_has_changes_nothing(linked):
    found = incident(problem_id=linked)
    assert not found.problem_refused_link("p-1", "the problem is closed", T1, actor="system")
    assert found.problem_id == linked and found.events == [] and found.activity == []


def test_a_known_errors_workaround_is_a_work_note():
    found = incident(problem_id="p-1")
    found.events.clear()
    found.activity.clear()
    assert found.note_workaround("p-1", "KE0001001", "restart the cache", T1, actor="agent-7")
    [event] = events_of(found)
    assert isinstance(event, IncidentWorkNoteAdded)
    assert event.text == "Workaround from known error KE0001001: restart the cache" and event.actor == "agent-7"
    assert [a.kind for a in found.activity] == [ActivityKind.WORK_NOTE]


@pytest.mark.parametrize(("state", "linked"), [(State.NEW, "p-2"), (State.NEW, None), (State.RESOLVED, "p-1"),
                                               (State.CLOSED, "p-1")])
def test_a_workaround_is_noted_only_on_an_open_incident_still_linked_to_its_problem(state, linked):
    found = incident(state, problem_id=linked)
    found.events.clear()
    found.activity.clear()
    assert not found.note_workaround("p-1", "KE0001001", "restart the cache", T1, actor="agent-7")
    assert found.events == [] and found.activity == []


def test_an_incident_resolved_by_a_problem_names_the_problems_number_when_known():
    found = incident(problem_id="p-1")
    found.resolve_by_problem("p-1", "fix_applied", "patched", T1, actor="agent-7", number="PRB0001001")
    assert found.resolution_notes == "Resolved by problem PRB0001001 (fix_applied): patched"
    other = incident(problem_id="p-1")
    other.resolve_by_problem("p-1", "fix_applied", "", T1, actor="agent-7")
    assert other.resolution_notes == "Resolved by problem p-1 (fix_applied)."


T2 = datetime(2026, 12, 5, 11, 0, tzinfo=UTC)


def test_a_problems_answer_to_a_link_the_agent_has_since_moved_changes_nothing():
    """The agent links to p-1 (T1), then moves it to p-2 (T2); the problems' answers, dated when the agent linked,
    may arrive after that in any order: the older one is stale."""
    found = incident()
    found.link_to_problem("p-1", T1, actor="agent-7")
    found.link_to_problem("p-2", T2, actor="agent-7")
    found.events.clear()
    found.activity.clear()
    assert not found.link_problem("p-1", T1, actor="agent-7")  # p-1's answer to the first link
    assert not found.unlink_problem("p-1", T2, actor="agent-7")  # p-1 dropping it (the move named it)
    assert not found.link_problem("p-2", T2, actor="agent-7")  # p-2's answer
    assert found.problem_id == "p-2" and found.events == [] and found.activity == []


def test_a_problems_unlink_older_than_the_agents_new_link_leaves_it():
    found = incident()
    found.link_to_problem("p-1", T0, actor="agent-7")
    found.unlink_from_problem(T1, actor="agent-7")
    found.link_to_problem("p-1", T2, actor="agent-7")
    assert not found.unlink_problem("p-1", T1, actor="agent-7")  # the answer to the unlink at T1
    assert found.problem_id == "p-1"


def test_a_problems_link_made_after_the_agents_change_applies():
    found = incident()
    found.link_to_problem("p-1", T1, actor="agent-7")
    assert found.link_problem("p-2", T2, actor="agent-9")
    assert found.problem_id == "p-2" and found.problem_changed_at == T2


def test_a_refusal_applies_however_it_is_dated():
    found = incident()
    found.link_to_problem("p-1", T2, actor="agent-7")
    assert found.problem_refused_link("p-1", "unknown problem", T1, actor="system")
    assert found.problem_id is None
