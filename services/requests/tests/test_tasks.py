"""Fulfilment tasks' rules, without a database: their table, assignment, and standalone tasks' own events."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from itsm_kit.domain import Conflict, InvalidTransition, InvalidValue
from itsm_requests.domain.tasks import FINISHED, TASK_TRANSITIONS, Task, TaskState

AT = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)


def standalone(**overrides) -> Task:
    return Task.opened(**{"id": "t1", "number": "TASK0001001", "record_type": "incident", "record_id": "inc-1",
                          "name": "replace disk", "description": "", "at": AT, "template": "disk swap", **overrides})


def test_finished_tasks_go_nowhere_and_open_ones_may_finish_any_way():
    assert all(not TASK_TRANSITIONS[state] for state in FINISHED)
    assert FINISHED <= TASK_TRANSITIONS[TaskState.OPEN] and FINISHED <= TASK_TRANSITIONS[TaskState.IN_PROGRESS]
    assert TaskState.OPEN in TASK_TRANSITIONS[TaskState.IN_PROGRESS]  # handed back


def test_a_new_task_is_open_and_nobodys_and_needs_a_name():
    task = standalone()
    assert (task.state, task.assignment_group, task.assignee, task.version) == (TaskState.OPEN, None, None, 0)
    assert task.standalone and task.template == "disk swap"
    with pytest.raises(InvalidValue):
        standalone(name="  ")


def test_a_standalone_task_records_its_own_events_with_its_version_as_their_sequence():
    task = standalone()
    task.own(task.assign("storage", "carol", AT, "system", rule="disks", rule_version=3, method="round_robin"))
    task.own(task.move(TaskState.IN_PROGRESS, AT, "carol"))  # no event, a new version still
    task.own(task.move(TaskState.DONE, AT, "carol"))
    assert [(sequence, event.type) for sequence, event in task.events] == [
        (1, "itsm.request.task_assigned"), (3, "itsm.request.task_completed")]
    assigned, completed = task.events[0][1], task.events[1][1]
    assert (assigned.dispatch_rule, assigned.dispatch_rule_version, assigned.method) == ("disks", 3, "round_robin")
    assert completed.outcome == "done" and task.closed_at == AT and task.version == 3


def test_a_user_assignment_names_no_rule_and_keeps_the_rule_that_chose_before():
    task = standalone()
    task.assign("storage", None, AT, "system", rule="disks", rule_version=3)
    event = task.assign("storage", "dave", AT, "erin")
    assert event.dispatch_rule is None and event.previous_assignment_group == "storage"
    assert task.dispatch_rule == "disks"  # the timeline and the row still say which rule chose the group


def test_a_task_moves_only_by_its_table_and_a_finished_one_keeps_its_assignment():
    task = standalone()
    task.move(TaskState.CANCELED, AT, "erin")
    with pytest.raises(InvalidTransition):
        task.move(TaskState.OPEN, AT, "erin")
    with pytest.raises(Conflict):
        task.assign("storage", "dave", AT, "erin")
