"""Fulfilment tasks: a piece of work for a group (and, once dispatched or taken, a person).

A requested item's tasks belong to its request (the request records their events); a task a work-order template
made for an incident, a change or a request stands alone (it records its own). Either way a task moves by this
table, and each method returns the event its owner records.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from itsm_contracts.events.requests import RequestTaskAssigned, RequestTaskCompleted
from itsm_kit.domain import RaisesEvents, check_transition


class TaskState(StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    INCOMPLETE = "incomplete"  # closed without doing it: its item closes incomplete
    CANCELED = "canceled"  # no longer needed (its item was canceled or rejected)


TASK_TRANSITIONS: dict[TaskState, frozenset[TaskState]] = {
    TaskState.OPEN: frozenset({TaskState.IN_PROGRESS, TaskState.DONE, TaskState.INCOMPLETE, TaskState.CANCELED}),
    TaskState.IN_PROGRESS: frozenset({TaskState.OPEN, TaskState.DONE, TaskState.INCOMPLETE, TaskState.CANCELED}),
    TaskState.DONE: frozenset(),
    TaskState.INCOMPLETE: frozenset(),
    TaskState.CANCELED: frozenset(),
}
FINISHED = frozenset({TaskState.DONE, TaskState.INCOMPLETE, TaskState.CANCELED})


@dataclass
class Task(RaisesEvents):
    id: str
    number: str
    record_type: str  # request_item | incident | change | request
    record_id: str
    request_id: str | None
    stage: int | None
    name: str
    description: str
    assignment_group: str | None
    assignee: str | None
    state: TaskState
    dispatch_rule: str | None
    dispatch_rule_version: int | None
    template: str | None
    opened_at: datetime
    closed_at: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int = 0
    events: list = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    def assign(self, group: str | None, assignee: str | None, at: datetime, actor: str, *,
               rule: str | None = None, rule_version: int | None = None,
               method: str | None = None) -> RequestTaskAssigned:
        """Give the task to a group and person; the rule (and its version) that chose the group is kept, so the
        timeline says which rule assigned what even after the rule changes."""
        previous_group, previous_assignee = self.assignment_group, self.assignee
        self.assignment_group, self.assignee = group, assignee
        if rule is not None:
            self.dispatch_rule, self.dispatch_rule_version = rule, rule_version
        self.updated_at = at
        return RequestTaskAssigned(
            task_id=self.id, task_number=self.number, record_type=self.record_type, record_id=self.record_id,
            request_id=self.request_id, actor=actor, name=self.name, assignment_group=group, assignee=assignee,
            previous_assignment_group=previous_group, previous_assignee=previous_assignee, dispatch_rule=rule,
            dispatch_rule_version=rule_version, method=method, assigned_at=at)

    def move(self, state: TaskState, at: datetime, actor: str) -> RequestTaskCompleted | None:
        """Move by the table; the completion event when the task is finished by this move."""
        check_transition(TASK_TRANSITIONS, "a task", self.state, state)
        self.state, self.updated_at = state, at
        if state not in FINISHED:
            return None
        self.closed_at = at
        return RequestTaskCompleted(
            task_id=self.id, task_number=self.number, record_type=self.record_type, record_id=self.record_id,
            request_id=self.request_id, actor=actor, name=self.name, outcome=state.value, completed_at=at)
