"""Dispatch decisions for problems (issue 17), with no database and no broker: taken unless someone assigned the
problem meanwhile (the rule itself is itsm_kit.dispatch's, shared with incidents)."""

from datetime import UTC, datetime, timedelta

import pytest

from itsm_contracts.events.problems import ProblemUpdated
from itsm_contracts.events.requests import RecordDispatched
from itsm_problems.domain import ActivityKind, Problem, State

T0 = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
T1 = T0 + timedelta(minutes=1)


def new_problem(**overrides) -> Problem:
    args = dict(id="p-1", number="PRB0001001", short_description="VPN drops weekly", description="", impact=2,
                urgency=2, at=T0)
    problem = Problem.open(**args | overrides)
    problem.events.clear()
    problem.activity.clear()
    return problem


def decision(group: str | None = "NetOps", assignee: str | None = "alice", *, at: datetime = T0) -> RecordDispatched:
    return RecordDispatched(record_type="problem", record_id="p-1", assignment_group=group, assignee=assignee,
                            dispatch_rule="Network problems", dispatch_rule_version=2, method="least_loaded",
                            decided_at=at)


def test_an_unassigned_problem_takes_the_decision_with_a_note_naming_the_rule():
    problem = new_problem()
    assert problem.take_dispatch(decision(), T1)
    assert (problem.assignment_group, problem.assignee) == ("NetOps", "alice")
    [updated] = [e for _, e in problem.events if isinstance(e, ProblemUpdated)]
    assert updated.changes == {"assignment_group": "NetOps", "assignee": "alice"} and updated.actor == "dispatch"
    assert [a.text for a in problem.activity if a.kind is ActivityKind.WORK_NOTE] == [
        "Assigned to NetOps (alice) by dispatch rule 'Network problems' (version 2); assignee by least loaded."]


def test_the_decisions_group_without_an_assignee_takes_the_assignee():
    problem = new_problem(assignment_group="NetOps")
    assert problem.take_dispatch(decision(), T1)
    assert problem.assignee == "alice"


@pytest.mark.parametrize(("group", "assignee"), [("DBA", None), ("NetOps", "bob"), (None, "carol")])
def test_a_problem_someone_assigned_meanwhile_keeps_that_assignment(group, assignee):
    problem = new_problem(assignment_group=group, assignee=assignee)
    assert not problem.take_dispatch(decision(), T1)
    assert (problem.assignment_group, problem.assignee) == (group, assignee) and problem.events == []


def test_a_resolved_problem_is_not_assigned():
    problem = new_problem()
    problem.resolve("duplicate", "same as PRB0001000", T0)
    problem.events.clear()
    assert problem.state is State.RESOLVED
    assert not problem.take_dispatch(decision(), T1)
    assert problem.assignment_group is None and problem.events == []


def test_an_older_decision_arriving_later_does_not_undo_a_newer_one():
    problem = new_problem()
    assert problem.take_dispatch(decision("NetOps", None, at=T0 + timedelta(seconds=5)), T1)
    assert not problem.take_dispatch(decision("NetOps", "alice", at=T0), T1)
    assert problem.assignee is None
