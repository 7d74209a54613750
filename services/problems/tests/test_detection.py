"""Detection, decided purely: given the rules, the counts and what is open -> open a candidate, link, or nothing;
the candidate problem a rule opens; rules as data; links the incident's side asks for."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from itsm_contracts.events.problems import ProblemIncidentLinked, ProblemOpened
from itsm_kit.domain import InvalidValue
from itsm_problems.domain import (
    MAX_LINKED_INCIDENTS, DetectionRule, Dimension, LinkTo, Notice, OpenCandidate, Problem, Recurrence, State,
    decide, link_refusal, open_candidate, window_text,
)

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def rule(id: str = "r-ci", dimension: str = "ci", threshold: int = 3, window_minutes: int = 1440, enabled: bool = True,
         impact: int = 2, urgency: int = 2, assignment_group: str | None = None) -> DetectionRule:
    return DetectionRule.create(id=id, name=f"rule {id}", dimension=dimension, threshold=threshold,
                                window_minutes=window_minutes, enabled=enabled, impact=impact, urgency=urgency,
                                assignment_group=assignment_group, at=T0)


def seen(counts: dict[str, int], *, dimension: Dimension = Dimension.CI, value: str = "db-1",
         new: tuple[str, ...] = ("i3",), open_problem: str | None = None,
         linked: frozenset[str] = frozenset()) -> Recurrence:
    return Recurrence(dimension, value, new=new, counts=counts, open_problem=open_problem, linked=linked)


# -- the decision ------------------------------------------------------------------------------

def test_below_the_threshold_nothing_happens():
    assert decide([rule(threshold=3)], seen({"r-ci": 2})) is None


def test_at_the_threshold_one_candidate_is_opened_by_the_rule():
    ci = rule(threshold=3)
    assert decide([ci], seen({"r-ci": 3})) == OpenCandidate(ci, Dimension.CI, "db-1", 3)


def test_a_disabled_rule_opens_nothing():
    assert decide([rule(threshold=3, enabled=False)], seen({"r-ci": 50})) is None


def test_a_rule_counts_only_its_own_dimension():
    service = rule(id="r-bs", dimension="business_service", threshold=2)
    assert decide([service], seen({"r-bs": 9}, dimension=Dimension.CI)) is None


def test_with_an_open_detected_problem_the_new_incidents_join_it_instead_of_a_second_one():
    verdict = decide([rule()], seen({"r-ci": 4}, new=("i4", "i5"), open_problem="p-1"))
    assert verdict == LinkTo("p-1", ("i4", "i5"))


def test_incidents_some_problem_already_links_are_not_linked_again():
    verdict = decide([rule()], seen({"r-ci": 4}, new=("i4", "i5"), open_problem="p-1", linked=frozenset({"i4"})))
    assert verdict == LinkTo("p-1", ("i5",))
    assert decide([rule()], seen({"r-ci": 4}, new=("i4",), open_problem="p-1", linked=frozenset({"i4"}))) is None


def test_an_open_detected_problem_takes_nothing_while_no_rule_fires():
    assert decide([rule(threshold=3)], seen({"r-ci": 1}, open_problem="p-1")) is None


def test_of_several_rules_that_fire_the_most_urgent_opens_the_candidate():
    calm = rule(id="r-calm", threshold=3, impact=3, urgency=3)
    urgent = rule(id="r-urgent", threshold=5, impact=1, urgency=1)
    verdict = decide([calm, urgent], seen({"r-calm": 6, "r-urgent": 6}))
    assert isinstance(verdict, OpenCandidate) and verdict.rule is urgent and verdict.count == 6
    assert decide([calm, urgent], seen({"r-calm": 4, "r-urgent": 4})).rule is calm  # only it fired


# -- the candidate problem -------------------------------------------------------------------------

def test_the_candidate_names_the_rule_and_value_and_links_each_incident_as_a_person_would():
    ci = rule(threshold=3, impact=1, urgency=2, assignment_group="DBA")
    problem = open_candidate(OpenCandidate(ci, Dimension.CI, "db-1", 3), id="p-1", number="PRB0001001",
                             incident_ids=["i1", "i2", "i3", "i2"], at=T0)
    assert problem.short_description == "Recurring incidents on CI db-1: 3 within 24 h"
    assert (problem.priority, problem.assignment_group, problem.state) == (2, "DBA", State.NEW)
    assert (problem.detection_rule_id, problem.detected_on, problem.detected_value) == ("r-ci", "ci", "db-1")
    assert problem.related_incidents == ["i1", "i2", "i3"] and problem.affected_cis == ["db-1"]
    events = [e for _, e in problem.events]
    assert isinstance(events[0], ProblemOpened)
    assert (events[0].detection_rule_id, events[0].detected_on, events[0].detected_value) == ("r-ci", "ci", "db-1")
    assert [e.incident_id for e in events[1:] if isinstance(e, ProblemIncidentLinked)] == ["i1", "i2", "i3"]
    assert [s for s, _ in problem.events] == [1, 2, 3, 4]


def test_a_candidate_links_at_most_as_many_incidents_as_a_problem_keeps():
    problem = open_candidate(OpenCandidate(rule(), Dimension.CI, "db-1", 500), id="p-1", number="PRB0001001",
                             incident_ids=[f"i{n}" for n in range(500)], at=T0)
    assert len(problem.related_incidents) == MAX_LINKED_INCIDENTS


def test_a_long_value_still_gives_a_short_description_that_fits():
    service = rule(dimension="business_service", window_minutes=90)
    problem = open_candidate(OpenCandidate(service, Dimension.BUSINESS_SERVICE, "x" * 255, 12), id="p-1",
                             number="PRB0001001", incident_ids=[], at=T0)
    assert len(problem.short_description) <= 160 and problem.short_description.endswith(": 12 within 90 min")
    assert problem.affected_cis == [] and problem.detected_value == "x" * 255


@pytest.mark.parametrize(("minutes", "text"), [(1440, "24 h"), (60, "1 h"), (90, "90 min"), (10080, "7 days")])
def test_windows_read_as_people_say_them(minutes, text):
    assert window_text(minutes) == text


# -- rules are data --------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [{"threshold": 1}, {"threshold": MAX_LINKED_INCIDENTS + 1}, {"window_minutes": 0},
                                 {"impact": 4}, {"dimension": "caller"}])
def test_a_rule_refuses_values_detection_cannot_use(bad):
    with pytest.raises(InvalidValue):
        rule(**bad)


def test_a_rule_changes_only_what_differs_and_its_version_moves_then():
    ci = rule()
    ci.update({"threshold": 3, "enabled": True}, T0, actor="admin")
    assert ci.version == 1
    ci.update({"threshold": 4}, T0, actor="admin")
    assert (ci.threshold, ci.version, ci.updated_by) == (4, 2, "admin")
    with pytest.raises(InvalidValue):
        ci.update({"dimension": "category"}, T0)
    with pytest.raises(InvalidValue):
        ci.update({"enabled": None}, T0)


# -- links from the incident's side ----------------------------------------------------------------

def problem(state: State = State.NEW, linked: list[str] | None = None) -> Problem:
    p = Problem.open(id="p-1", number="PRB0001001", short_description="checkout OOM", description="", impact=2,
                     urgency=2, at=T0, related_incidents=linked or [])
    p.state = state
    return p


def test_a_problem_takes_an_incident_unless_unknown_final_or_full():
    assert link_refusal(problem(), "p-1", "i1") is None
    assert link_refusal(None, "p-x", "i1") == "there is no problem p-x"
    assert "closed" in link_refusal(problem(State.CLOSED), "p-1", "i1")
    assert "canceled" in link_refusal(problem(State.CANCELED), "p-1", "i1")
    full = problem(linked=[f"i{n}" for n in range(MAX_LINKED_INCIDENTS)])
    assert str(MAX_LINKED_INCIDENTS) in link_refusal(full, "p-1", "new")
    assert link_refusal(full, "p-1", "i7") is None  # already linked: linking again changes nothing


def test_a_notice_numbers_its_events_with_the_problems_version_and_changes_nothing_else():
    notice = Notice("p-1", 7)
    notice.tell(ProblemOpened(problem_id="p-1", number="n", short_description="s", opened_at=T0))
    assert [s for s, _ in notice.events] == [7]
