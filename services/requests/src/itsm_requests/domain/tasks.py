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
from itsm_contracts.events import EventData
from itsm_kit.domain import Conflict, InvalidValue, RaisesEvents, check_transition


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
# What a standalone task is for (a work-order template applied to one); a requested item's tasks are "request_item".
STANDALONE_RECORD_TYPES = frozenset({"incident", "change", "request"})


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

    @classmethod
    def opened(cls, *, id: str, number: str, record_type: str, record_id: str, name: str, description: str,
               at: datetime, request_id: str | None = None, stage: int | None = None,
               template: str | None = None) -> Task:
        """A new open task, nobody's yet (its owner assigns it as dispatch decides)."""
        if not name.strip():
            raise InvalidValue("a task needs a name")
        return cls(id=id, number=number, record_type=record_type, record_id=record_id, request_id=request_id,
                   stage=stage, name=name.strip(), description=description, assignment_group=None, assignee=None,
                   state=TaskState.OPEN, dispatch_rule=None, dispatch_rule_version=None, template=template,
                   opened_at=at, closed_at=None, created_at=at, updated_at=at)

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    @property
    def standalone(self) -> bool:
        """A work-order template's task: its own aggregate (a requested item's belongs to its request)."""
        return self.request_id is None

    def own(self, event: EventData | None) -> None:
        """A standalone task records its own events (their subject is its id); every change moves its version."""
        if event is None:
            self.version += 1
        else:
            self.record(event)

    def assign(self, group: str | None, assignee: str | None, at: datetime, actor: str, *,
               rule: str | None = None, rule_version: int | None = None,
               method: str | None = None) -> RequestTaskAssigned:
        """Give the task to a group and person; the rule (and its version) that chose the group is kept, so the
        timeline says which rule assigned what even after the rule changes."""
        if self.finished:
            raise Conflict(f"task {self.number} is {self.state.value}: a finished task keeps its assignment")
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
