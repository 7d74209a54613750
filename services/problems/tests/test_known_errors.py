"""Known errors: when a problem may be published as one, what publishing raises, revisions and retirement.
No database, no broker."""

from datetime import UTC, datetime, timedelta

import pytest

from itsm_contracts.events.problems import (
    ProblemIncidentLinked, ProblemKnownErrorPublished, ProblemKnownErrorRetired,
)
from itsm_kit.domain import Conflict, InvalidValue
from itsm_problems.domain import KNOWN_ERROR_STATES, KnownError, KnownErrorState, Problem, State

T0 = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
LATER = T0 + timedelta(hours=2)


def analysed(state: State = State.ROOT_CAUSE_ANALYSIS, *, root_cause: bool = True) -> Problem:
    problem = Problem.open(id="p-1", number="PRB0001001", short_description="Checkout pods run out of memory",
                           description="", impact=2, urgency=2, at=T0, related_incidents=["i-1", "i-2"],
                           affected_cis=["ci-checkout"])
    problem.move_to(State.ASSESS, T0)
    if root_cause:
        problem.identify_root_cause("the session cache has no bound", "software", T0)
    if state is not State.ASSESS:
        problem.move_to(State.ROOT_CAUSE_ANALYSIS, T0)
    if state in (State.FIX_IN_PROGRESS, State.RESOLVED):
        problem.move_to(State.FIX_IN_PROGRESS, T0)
    if state is State.RESOLVED:
        problem.resolve("risk_accepted", "restarting weekly is cheaper", T0)
    problem.events.clear()
    return problem


def publish(problem: Problem, existing: KnownError | None = None, **overrides) -> KnownError:
    args = dict(symptoms="checkout answers 502 after a few days", workaround="restart the checkout pods",
                title=None, affected_cis=None, at=LATER, existing=existing, new_id="ke-1", new_number="KE0001001",
                actor="agent-1")
    return problem.publish_known_error(**args | overrides)


@pytest.mark.parametrize("state", sorted(KNOWN_ERROR_STATES))
def test_a_problem_whose_cause_is_known_is_published_with_its_workaround_for_its_incidents(state):
    problem = analysed(State(state))
    known = publish(problem)
    assert (known.state, known.revision, known.number, known.problem_number) == (
        KnownErrorState.PUBLISHED, 1, "KE0001001", "PRB0001001")
    assert (known.title, known.root_cause, known.cause_code) == (
        "Checkout pods run out of memory", "the session cache has no bound", "software")
    assert known.affected_cis == ["ci-checkout"], "the problem's affected CIs unless others are named"
    [(_, published)] = problem.events
    assert isinstance(published, ProblemKnownErrorPublished)
    assert (published.incident_ids, published.workaround, published.known_error_id) == (
        ["i-1", "i-2"], "restart the checkout pods", "ke-1")
    assert (problem.known_error_id, problem.known_error_number, problem.workaround) == (
        "ke-1", "KE0001001", "restart the checkout pods")


def test_without_a_root_cause_there_is_no_known_error():
    problem = analysed(root_cause=False)
    with pytest.raises(Conflict, match="no root cause"):
        publish(problem)
    assert problem.events == [] and problem.known_error_id is None


@pytest.mark.parametrize("state", [State.NEW, State.ASSESS, State.CLOSED, State.CANCELED])
def test_a_known_error_is_not_published_before_analysis_nor_from_a_finished_problem(state):
    problem = analysed(State.RESOLVED)
    if state is State.CLOSED:
        problem.close(T0)
    elif state is State.CANCELED:
        problem = analysed()
        problem.move_to(State.CANCELED, T0)
    elif state is State.NEW:
        problem = Problem.open(id="p-2", number="PRB0001002", short_description="x", description="", impact=3,
                               urgency=3, at=T0)
    else:
        problem = analysed(State.ASSESS)
    problem.events.clear()
    with pytest.raises(Conflict) as refused:
        publish(problem)
    assert refused.value.details["allowed_states"] == sorted(KNOWN_ERROR_STATES)
    assert problem.events == []


@pytest.mark.parametrize("blank", ["symptoms", "workaround"])
def test_symptoms_and_workaround_are_required(blank):
    problem = analysed()
    with pytest.raises(InvalidValue):
        publish(problem, **{blank: "  "})
    assert problem.events == []


def test_publishing_again_revises_the_same_known_error_and_tells_the_incidents_again():
    problem = analysed()
    known = publish(problem)
    problem.events.clear()
    revised = publish(problem, existing=known, workaround="set CACHE_MAX=512MB and restart", new_id="other")
    assert revised is known and (known.id, known.revision, known.version) == ("ke-1", 2, 2)
    [(_, published)] = problem.events
    assert (published.revision, published.workaround) == (2, "set CACHE_MAX=512MB and restart")


def test_publishing_the_same_again_raises_nothing():
    problem = analysed()
    known = publish(problem)
    problem.events.clear()
    assert publish(problem, existing=known) is known
    assert problem.events == [] and known.revision == 1


def test_a_retired_known_error_stops_offering_its_workaround_and_can_be_published_again():
    problem = analysed()
    known = publish(problem)
    problem.events.clear()
    problem.retire_known_error(known, "the fix is deployed everywhere", LATER, actor="agent-1")
    assert (known.state, known.retired_reason, problem.workaround) == (
        KnownErrorState.RETIRED, "the fix is deployed everywhere", None)
    [(_, retired)] = problem.events
    assert isinstance(retired, ProblemKnownErrorRetired) and retired.known_error_id == "ke-1"
    problem.link_incident("i-3", LATER)
    linked = problem.events[-1][1]
    assert isinstance(linked, ProblemIncidentLinked) and linked.workaround is None
    with pytest.raises(Conflict, match="already retired"):
        problem.retire_known_error(known, "again", LATER)
    publish(problem, existing=known)
    assert (known.state, known.revision, known.retired_at) == (KnownErrorState.PUBLISHED, 2, None)


def test_an_incident_linked_later_is_handed_the_published_workaround():
    problem = analysed()
    publish(problem)
    problem.link_incident("i-3", LATER)
    linked = problem.events[-1][1]
    assert (linked.known_error_number, linked.workaround) == ("KE0001001", "restart the checkout pods")


def test_a_known_error_is_retired_only_through_its_own_problem():
    problem, other = analysed(), analysed()
    other.id = "p-other"
    known = publish(problem)
    with pytest.raises(InvalidValue):
        other.retire_known_error(known, "not mine", LATER)
    assert known.state is KnownErrorState.PUBLISHED
