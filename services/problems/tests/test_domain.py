"""Problem rules, with no database and no broker."""

from datetime import UTC, datetime, timedelta
from typing import get_args

import pytest

from itsm_contracts.api.problems import ProblemState as ContractState
from itsm_contracts.events.problems import ProblemOpened, ProblemStateChanged, ProblemUpdated
from itsm_kit.domain import Conflict, InvalidTransition, InvalidValue, priority_of
from itsm_problems.domain import (
    TRANSITIONS, Problem, State,
)

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
MAIN_PATH = [State.NEW, State.ASSESS, State.ROOT_CAUSE_ANALYSIS, State.FIX_IN_PROGRESS, State.RESOLVED, State.CLOSED]
OPEN_STATES = MAIN_PATH[:4]


def new_problem(**overrides) -> Problem:
    args = dict(id="p-1", number="PRB0001001", short_description="Checkout pods run out of memory weekly",
                description="", impact=2, urgency=2, at=T0)
    return Problem.open(**args | overrides)


def in_state(state: State) -> Problem:
    """A problem brought to `state` along the main path."""
    problem = new_problem()
    for step in MAIN_PATH[1:MAIN_PATH.index(state) + 1]:
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
def test_an_open_problem_can_be_closed_as_canceled_or_duplicate(state):
    problem = in_state(state)
    problem.move_to(State.CLOSED, T0)
    assert problem.state is State.CLOSED


def test_root_cause_accepted_as_a_risk_resolves_without_a_fix():
    problem = in_state(State.ROOT_CAUSE_ANALYSIS)
    problem.move_to(State.RESOLVED, T0)
    assert problem.state is State.RESOLVED


@pytest.mark.parametrize("state", [State.FIX_IN_PROGRESS, State.RESOLVED])
def test_a_fix_that_does_not_hold_goes_back_to_root_cause_analysis(state):
    problem = in_state(state)
    problem.move_to(State.ROOT_CAUSE_ANALYSIS, T0 + timedelta(days=1))
    assert problem.state is State.ROOT_CAUSE_ANALYSIS and problem.updated_at == T0 + timedelta(days=1)


def test_closed_is_final_and_every_state_has_an_entry():
    assert TRANSITIONS[State.CLOSED] == frozenset()
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
    assert caught.value.allowed == [State.CLOSED, State.ROOT_CAUSE_ANALYSIS]
    assert "closed, root_cause_analysis" in str(caught.value)
    assert problem.state is State.RESOLVED


def test_domain_and_contract_agree_on_states():
    assert set(get_args(ContractState)) == set(State)


# -- issue 13: who opened it, assignment, related incidents; edits; moves raise events -----------------------------

def test_opening_keeps_who_opened_it_its_assignment_and_its_incidents_once_each():
    problem = new_problem(opened_by="alice", assignee="bob", assignment_group="sre",
                          related_incidents=["i-2", "i-1", "i-2"])
    assert (problem.opened_by, problem.assignee, problem.assignment_group) == ("alice", "bob", "sre")
    assert problem.related_incidents == ["i-2", "i-1"]
    [(_, opened)] = problem.events
    assert (opened.actor, opened.priority, opened.related_incidents) == ("alice", 3, ["i-2", "i-1"])


def test_each_move_raises_state_changed_and_a_version():
    problem = in_state(State.FIX_IN_PROGRESS)
    assert problem.version == 4
    moves = [(e.from_state, e.to_state) for _, e in problem.events if isinstance(e, ProblemStateChanged)]
    assert moves == [("new", "assess"), ("assess", "root_cause_analysis"), ("root_cause_analysis", "fix_in_progress")]
    problem.move_to(State.RESOLVED, T0 + timedelta(hours=1), actor="agent-1")
    sequence, resolved = problem.events[-1]
    assert (sequence, resolved.actor, problem.updated_at) == (5, "agent-1", T0 + timedelta(hours=1))


def test_a_refused_move_raises_nothing():
    problem = new_problem()
    with pytest.raises(InvalidTransition) as caught:
        problem.move_to(State.RESOLVED, T0)
    assert caught.value.details["allowed_states"] == ["assess", "closed"]
    assert problem.version == 1 and len(problem.events) == 1


def test_an_edit_publishes_what_really_changed_and_impact_or_urgency_reprioritises():
    problem = new_problem(assignee="bob")
    problem.update({"assignee": "bob", "impact": 1, "urgency": 1, "related_incidents": ["i-1", "i-1", "i-2"]},
                   T0 + timedelta(minutes=1), actor="agent-1")
    [(sequence, updated)] = problem.events[1:]
    assert sequence == 2 and isinstance(updated, ProblemUpdated) and updated.actor == "agent-1"
    assert updated.changes == {"impact": 1, "urgency": 1, "priority": 1, "related_incidents": ["i-1", "i-2"]}
    assert (problem.priority, problem.related_incidents) == (1, ["i-1", "i-2"])


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
