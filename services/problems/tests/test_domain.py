"""Problem rules, with no database and no broker."""

from datetime import UTC, datetime, timedelta
from typing import get_args

import pytest

from itsm_contracts.api.problems import ProblemState as ContractState
from itsm_contracts.events.problems import (
    CauseCode as ContractCauseCode, ProblemClosed, ProblemCommented, ProblemIncidentLinked, ProblemIncidentUnlinked,
    ProblemOpened, ProblemResolved, ProblemRootCauseIdentified, ProblemStateChanged, ProblemUpdated,
    ProblemWorkNoteAdded, ResolutionCode as ContractResolutionCode,
)
from itsm_kit.domain import Conflict, InvalidTransition, InvalidValue, priority_of
from itsm_problems.domain import (
    COMMAND_ONLY, MAX_LINKED_INCIDENTS, MOVES, TRANSITIONS, ActivityKind, CauseCode, NeedsCommand, Problem,
    ResolutionCode, State,
)

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
MAIN_PATH = [State.NEW, State.ASSESS, State.ROOT_CAUSE_ANALYSIS, State.FIX_IN_PROGRESS, State.RESOLVED, State.CLOSED]
OPEN_STATES = MAIN_PATH[:4]


def new_problem(**overrides) -> Problem:
    args = dict(id="p-1", number="PRB0001001", short_description="Checkout pods run out of memory weekly",
                description="", impact=2, urgency=2, at=T0)
    return Problem.open(**args | overrides)


def in_state(state: State) -> Problem:
    """A problem brought to `state` along the main path (resolved with its command, the risk accepted; then closed)."""
    problem = new_problem()
    for step in MAIN_PATH[1:MAIN_PATH.index(state) + 1]:
        if step is State.RESOLVED:
            problem.resolve("risk_accepted", "cheaper to restart weekly", T0)
        elif step is State.CLOSED:
            problem.close(T0)
        else:
            problem.move_to(step, T0)
    return problem


@pytest.mark.parametrize(
    ("impact", "urgency", "priority"),
    [(1, 1, 1), (1, 2, 2), (2, 1, 2), (1, 3, 3), (2, 2, 3), (3, 1, 3), (2, 3, 4), (3, 2, 4), (3, 3, 5)],
)
def test_priority_follows_the_impact_urgency_matrix(impact, urgency, priority):
    assert priority_of(impact, urgency) == priority
    assert new_problem(impact=impact, urgency=urgency).priority == priority


@pytest.mark.parametrize(("impact", "urgency"), [(0, 2), (2, 4), (4, 1)])
def test_impact_or_urgency_outside_1_to_3_is_refused(impact, urgency):
    with pytest.raises(InvalidValue):
        new_problem(impact=impact, urgency=urgency)


def test_opening_raises_opened_with_version_1_in_state_new():
    problem = new_problem(short_description="  Disk fills on db-01  ")
    assert problem.state is State.NEW and problem.version == 1 and problem.short_description == "Disk fills on db-01"
    [(sequence, opened)] = problem.events
    assert sequence == 1 and isinstance(opened, ProblemOpened)
    assert (opened.number, opened.short_description, opened.opened_at) == ("PRB0001001", "Disk fills on db-01", T0)


def test_blank_short_description_is_refused():
    with pytest.raises(InvalidValue):
        new_problem(short_description=" ")


def test_main_path_runs_from_new_to_closed():
    problem = in_state(State.CLOSED)
    assert problem.state is State.CLOSED


@pytest.mark.parametrize("state", OPEN_STATES)
def test_an_open_problem_can_be_canceled_or_resolved_as_a_duplicate(state):
    problem = in_state(state)
    problem.move_to(State.CANCELED, T0)
    assert problem.state is State.CANCELED
    duplicate = in_state(state)
    duplicate.resolve("duplicate", "same as PRB0001000", T0)
    assert (duplicate.state, duplicate.resolution_code) == (State.RESOLVED, ResolutionCode.DUPLICATE)


def test_root_cause_accepted_as_a_risk_resolves_without_a_fix():
    problem = in_state(State.ROOT_CAUSE_ANALYSIS)
    problem.resolve("risk_accepted", "not worth a change", T0)
    assert problem.state is State.RESOLVED


@pytest.mark.parametrize("state", [State.FIX_IN_PROGRESS, State.RESOLVED])
def test_a_fix_that_does_not_hold_goes_back_to_root_cause_analysis(state):
    problem = in_state(state)
    problem.move_to(State.ROOT_CAUSE_ANALYSIS, T0 + timedelta(days=1))
    assert problem.state is State.ROOT_CAUSE_ANALYSIS and problem.updated_at == T0 + timedelta(days=1)


def test_closed_and_canceled_are_final_and_every_state_has_an_entry():
    assert TRANSITIONS[State.CLOSED] == TRANSITIONS[State.CANCELED] == frozenset()
    assert set(TRANSITIONS) == set(State)


@pytest.mark.parametrize(("state", "wanted"), [(State.NEW, State.ROOT_CAUSE_ANALYSIS), (State.NEW, State.RESOLVED),
                                               (State.ASSESS, State.FIX_IN_PROGRESS), (State.RESOLVED, State.NEW)])
def test_no_skipping_assessment_or_analysis(state, wanted):
    with pytest.raises(InvalidTransition):
        in_state(state).move_to(wanted, T0)


def test_illegal_transition_names_the_allowed_ones():
    problem = in_state(State.RESOLVED)
    with pytest.raises(InvalidTransition) as caught:
        problem.move_to(State.FIX_IN_PROGRESS, T0)
    assert caught.value.current is State.RESOLVED
    assert caught.value.allowed == [State.ROOT_CAUSE_ANALYSIS]  # closed comes only with POST .../close
    assert "allowed: root_cause_analysis" in str(caught.value)
    assert problem.state is State.RESOLVED


def test_domain_and_contract_agree_on_states():
    assert set(get_args(ContractState)) == set(State)


# -- issue 13: who opened it, assignment, related incidents; edits; moves raise events -----------------------------

def test_opening_keeps_who_opened_it_its_assignment_and_its_incidents_once_each():
    problem = new_problem(opened_by="alice", assignee="bob", assignment_group="sre",
                          related_incidents=["i-2", "i-1", "i-2"])
    assert (problem.opened_by, problem.assignee, problem.assignment_group) == ("alice", "bob", "sre")
    assert problem.related_incidents == ["i-2", "i-1"]
    (_, opened), *links = problem.events
    assert (opened.actor, opened.priority, opened.related_incidents) == ("alice", 3, ["i-2", "i-1"])
    # The incidents service learns of links from link events only: each incident named hears of it.
    assert [(type(e), e.incident_id, e.actor) for _, e in links] == [
        (ProblemIncidentLinked, "i-2", "alice"), (ProblemIncidentLinked, "i-1", "alice")]
    assert problem.version == 3


def test_each_move_raises_state_changed_and_a_version():
    problem = in_state(State.FIX_IN_PROGRESS)
    assert problem.version == 4
    moves = [(e.from_state, e.to_state) for _, e in problem.events if isinstance(e, ProblemStateChanged)]
    assert moves == [("new", "assess"), ("assess", "root_cause_analysis"), ("root_cause_analysis", "fix_in_progress")]
    problem.move_to(State.ROOT_CAUSE_ANALYSIS, T0 + timedelta(hours=1), actor="agent-1")
    sequence, moved = problem.events[-1]
    assert (sequence, moved.actor, problem.updated_at) == (5, "agent-1", T0 + timedelta(hours=1))


def test_a_refused_move_raises_nothing():
    problem = new_problem()
    with pytest.raises(InvalidTransition) as caught:
        problem.move_to(State.RESOLVED, T0)
    assert caught.value.details["allowed_states"] == ["assess", "canceled"]
    assert problem.version == 1 and len(problem.events) == 1


def test_an_edit_publishes_what_really_changed_and_impact_or_urgency_reprioritises():
    problem = new_problem(assignee="bob", related_incidents=["i-0", "i-1"])
    problem.events.clear()
    problem.update({"assignee": "bob", "impact": 1, "urgency": 1, "related_incidents": ["i-1", "i-1", "i-2"]},
                   T0 + timedelta(minutes=1), actor="agent-1")
    (sequence, updated), *links = problem.events
    assert sequence == 4 and isinstance(updated, ProblemUpdated) and updated.actor == "agent-1"
    assert updated.changes == {"impact": 1, "urgency": 1, "priority": 1, "related_incidents": ["i-1", "i-2"]}
    assert (problem.priority, problem.related_incidents) == (1, ["i-1", "i-2"])
    # A new list is links and unlinks, so the incidents dropped and added hear of it.
    assert [(type(e), e.incident_id) for _, e in links] == [
        (ProblemIncidentUnlinked, "i-0"), (ProblemIncidentLinked, "i-2")]


def test_an_edit_that_changes_nothing_raises_nothing():
    problem = new_problem(assignee="bob")
    problem.update({"assignee": "bob", "impact": 2}, T0, actor="agent-1")
    assert problem.version == 1


@pytest.mark.parametrize("changes", [{}, {"state": "closed"}, {"short_description": " "}, {"impact": None},
                                     {"related_incidents": None}, {"impact": 4}])
def test_a_bad_edit_is_refused_and_changes_nothing(changes):
    problem = new_problem()
    with pytest.raises(InvalidValue):
        problem.update(changes, T0, actor="agent-1")
    assert (problem.version, problem.impact, problem.short_description) == (
        1, 2, "Checkout pods run out of memory weekly")


def test_a_closed_problem_is_not_edited():
    problem = in_state(State.CLOSED)
    with pytest.raises(Conflict):
        problem.update({"assignee": "bob"}, T0)


# -- issue 14: canceled, root cause, resolve and close, links, comments and work notes, the timeline -----------------

def events_of(problem: Problem, kind: type) -> list:
    return [e for _, e in problem.events if isinstance(e, kind)]


def test_domain_and_contract_agree_on_codes():
    assert set(get_args(ContractCauseCode)) == set(CauseCode)
    assert set(get_args(ContractResolutionCode)) == set(ResolutionCode)


@pytest.mark.parametrize("state", OPEN_STATES)
def test_canceled_is_reached_from_every_state_before_resolved_and_is_final(state):
    problem = in_state(state)
    problem.move_to(State.CANCELED, T0, actor="agent-1")
    assert events_of(problem, ProblemStateChanged)[-1].to_state == "canceled"
    for wanted in State:
        with pytest.raises(InvalidTransition):
            problem.move_to(wanted, T0)


@pytest.mark.parametrize("state", [State.RESOLVED, State.CLOSED])
def test_resolved_and_closed_cannot_be_canceled(state):
    with pytest.raises(InvalidTransition):
        in_state(state).move_to(State.CANCELED, T0)


@pytest.mark.parametrize(("state", "wanted"), [(State.ROOT_CAUSE_ANALYSIS, State.RESOLVED),
                                               (State.FIX_IN_PROGRESS, State.RESOLVED), (State.RESOLVED, State.CLOSED)])
def test_resolved_and_closed_come_only_with_their_commands(state, wanted):
    problem = in_state(state)
    with pytest.raises(NeedsCommand) as caught:
        problem.move_to(wanted, T0)
    assert caught.value.details["use"] == COMMAND_ONLY[wanted]
    assert f"/problems/{{id}}/{COMMAND_ONLY[wanted]}" in str(caught.value)
    assert caught.value.details["allowed_states"] == sorted(MOVES[state])
    assert problem.state is state and problem.version == in_state(state).version


def test_the_moves_are_the_table_without_what_only_commands_do():
    for state, nexts in TRANSITIONS.items():
        assert MOVES[state] == nexts - {State.RESOLVED, State.CLOSED}


@pytest.mark.parametrize("state", [State.ASSESS, State.ROOT_CAUSE_ANALYSIS, State.FIX_IN_PROGRESS])
def test_a_root_cause_is_written_while_it_is_looked_for_or_fixed(state):
    problem = in_state(state)
    problem.identify_root_cause("GC pauses under a leaked cache", "software", T0, actor="agent-1")
    assert (problem.root_cause, problem.cause_code, problem.state) == ("GC pauses under a leaked cache",
                                                                        CauseCode.SOFTWARE, state)
    [identified] = events_of(problem, ProblemRootCauseIdentified)
    assert (identified.root_cause, identified.cause_code, identified.actor) == (
        "GC pauses under a leaked cache", "software", "agent-1")
    version = problem.version
    problem.identify_root_cause("GC pauses under a leaked cache", "software", T0)  # the same again: nothing new
    assert problem.version == version


@pytest.mark.parametrize("state", [State.NEW, State.RESOLVED, State.CLOSED])
def test_a_root_cause_outside_analysis_is_a_conflict(state):
    problem = in_state(state)
    with pytest.raises(Conflict) as caught:
        problem.identify_root_cause("x", "software", T0)
    assert caught.value.details["allowed_states"] == ["assess", "fix_in_progress", "root_cause_analysis"]
    assert problem.root_cause is None


@pytest.mark.parametrize(("text", "code"), [(" ", "software"), ("leak", "cosmic_rays")])
def test_a_bad_root_cause_is_refused(text, code):
    problem = in_state(State.ROOT_CAUSE_ANALYSIS)
    with pytest.raises(InvalidValue):
        problem.identify_root_cause(text, code, T0)
    assert problem.root_cause is None and problem.version == 3


def test_fix_applied_needs_a_root_cause():
    problem = in_state(State.FIX_IN_PROGRESS)
    with pytest.raises(InvalidValue, match="root cause"):
        problem.resolve("fix_applied", "patched", T0)
    assert problem.state is State.FIX_IN_PROGRESS and problem.version == 4


def test_resolving_publishes_the_resolution_and_the_linked_incidents_then_close():
    problem = new_problem(related_incidents=["i-1", "i-2"])
    problem.move_to(State.ASSESS, T0)
    problem.identify_root_cause("leaked cache", "software", T0)
    problem.update({"fix_change_id": "chg-9"}, T0)
    later = T0 + timedelta(days=2)
    problem.resolve("fix_applied", "cache bounded in 1.42", later, resolve_linked_incidents=True, actor="agent-1")
    assert (problem.state, problem.resolution_code, problem.resolution_notes, problem.resolved_at) == (
        State.RESOLVED, ResolutionCode.FIX_APPLIED, "cache bounded in 1.42", later)
    resolved, moved = [e for _, e in problem.events[-2:]]
    assert isinstance(resolved, ProblemResolved) and isinstance(moved, ProblemStateChanged)
    assert (resolved.resolution_code, resolved.notes, resolved.resolve_linked_incidents, resolved.incident_ids) == (
        "fix_applied", "cache bounded in 1.42", True, ["i-1", "i-2"])
    problem.close(later, actor="agent-1")
    assert (problem.state, problem.closed_at) == (State.CLOSED, later)
    closed, moved = [e for _, e in problem.events[-2:]]
    assert isinstance(closed, ProblemClosed) and (moved.from_state, moved.to_state) == ("resolved", "closed")


@pytest.mark.parametrize(("code", "notes"), [("fixed", "x"), ("duplicate", "  ")])
def test_a_bad_resolution_is_refused(code, notes):
    problem = in_state(State.ROOT_CAUSE_ANALYSIS)
    with pytest.raises(InvalidValue):
        problem.resolve(code, notes, T0)
    assert problem.state is State.ROOT_CAUSE_ANALYSIS and problem.version == 3


def test_reanalysing_a_resolved_problem_clears_its_resolution():
    problem = in_state(State.RESOLVED)
    problem.move_to(State.ROOT_CAUSE_ANALYSIS, T0)
    assert (problem.resolution_code, problem.resolution_notes, problem.resolved_at) == (None, None, None)


def test_only_a_resolved_problem_is_closed():
    with pytest.raises(InvalidTransition):
        in_state(State.FIX_IN_PROGRESS).close(T0)


def test_links_are_idempotent_and_raise_linked_and_unlinked():
    problem = new_problem(related_incidents=["i-1"])
    problem.events.clear()
    problem.link_incident("i-1", T0)
    assert problem.version == 2, "already linked: nothing"
    problem.link_incident("i-2", T0, actor="agent-1")
    problem.link_incident("i-2", T0)
    problem.unlink_incident("i-1", T0, actor="agent-1")
    problem.unlink_incident("i-1", T0)
    assert problem.related_incidents == ["i-2"] and problem.version == 4
    [linked] = events_of(problem, ProblemIncidentLinked)
    [unlinked] = events_of(problem, ProblemIncidentUnlinked)
    assert (linked.incident_id, linked.actor, unlinked.incident_id) == ("i-2", "agent-1", "i-1")


def test_links_are_bounded():
    problem = new_problem(related_incidents=[f"i-{n}" for n in range(MAX_LINKED_INCIDENTS)])
    with pytest.raises(Conflict):
        problem.link_incident("one-more", T0)
    assert len(problem.related_incidents) == MAX_LINKED_INCIDENTS and problem.version == 1 + MAX_LINKED_INCIDENTS


@pytest.mark.parametrize("state", [State.CLOSED, State.CANCELED])
def test_a_final_problem_is_not_linked_or_edited(state):
    problem = in_state(State.NEW)
    if state is State.CANCELED:
        problem.move_to(State.CANCELED, T0)
    else:
        problem = in_state(State.CLOSED)
    with pytest.raises(Conflict):
        problem.link_incident("i-9", T0)
    with pytest.raises(Conflict):
        problem.update({"fix_change_id": "chg-1"}, T0)


def test_comments_and_work_notes_raise_events_and_go_on_the_timeline():
    problem = new_problem(opened_by="alice")
    problem.comment("seen again tonight", T0, actor="bob")
    problem.add_work_note("heap dump in the ticket", T0, actor="bob")
    commented, noted = [e for _, e in problem.events[1:]]
    assert isinstance(commented, ProblemCommented) and isinstance(noted, ProblemWorkNoteAdded)
    assert (commented.text, noted.text, noted.actor) == ("seen again tonight", "heap dump in the ticket", "bob")
    assert [(a.kind, a.actor, a.text) for a in problem.activity] == [
        (ActivityKind.OPENED, "alice", "Checkout pods run out of memory weekly"),
        (ActivityKind.COMMENT, "bob", "seen again tonight"), (ActivityKind.WORK_NOTE, "bob", "heap dump in the ticket")]
    with pytest.raises(InvalidValue):
        problem.comment(" ", T0)


def test_the_timeline_keeps_moves_root_cause_and_links():
    problem = new_problem()
    problem.move_to(State.ASSESS, T0, actor="bob")
    problem.identify_root_cause("leak", "software", T0, actor="bob")
    problem.link_incident("i-3", T0, actor="bob")
    problem.unlink_incident("i-3", T0, actor="bob")
    fields = [(a.field, a.old_value, a.new_value) for a in problem.activity if a.kind is ActivityKind.FIELD]
    assert fields == [("state", "new", "assess"), ("root_cause", None, "leak"), ("cause_code", None, "software"),
                      ("related_incidents", None, "i-3"), ("related_incidents", "i-3", None)]
