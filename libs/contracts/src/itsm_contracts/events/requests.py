"""Request fulfilment, work orders and dispatch, published by the requests service on itsm.requests.

A request (REQ) holds one or more requested items (RITM), each walking its catalogue item's fulfilment flow:
approval stages, then task stages. The subject (and sequence) of an event is its aggregate's: a request's events and
its items' tasks' carry the request id; a task a work-order template made for an incident, change or request stands
alone and carries its own id; a dispatch decision carries the dispatched record's id (sequence 0: not ordered).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from itsm_contracts import topics
from itsm_contracts.events import EventData, register

# A request's lifecycle; its state derives from its items' (itsm_requests.domain.requests).
RequestState = Literal["new", "pending_approval", "in_fulfilment", "fulfilled", "closed_incomplete", "rejected",
                       "canceled"]
ItemState = Literal["pending_approval", "in_fulfilment", "fulfilled", "closed_incomplete", "rejected", "canceled"]
TaskState = Literal["open", "in_progress", "done", "incomplete", "canceled"]
# What owns a task: a requested item's flow, or a work-order template applied to an incident, a change or a request.
TaskRecordType = Literal["request_item", "incident", "change", "request"]
# The records dispatch rules assign.
DispatchedRecordType = Literal["incident", "problem", "task"]
DispatchMethod = Literal["round_robin", "least_loaded", "none"]


class RequestEvent(EventData):
    topic = topics.REQUESTS

    request_id: str
    number: str  # REQ0001001
    actor: str | None = None  # a user id (the gateway's JWT subject) or "system"


class RequestedItemSummary(BaseModel):
    """One requested item as the SLA service and notifications need it."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    item_id: str
    number: str  # RITM0001001
    catalog_item_id: str
    name: str
    category: str | None = None
    quantity: int = 1
    state: ItemState
    # The catalogue item's targets at the time of ordering (null: no target of that kind).
    response_target_minutes: int | None = None
    fulfilment_target_minutes: int | None = None


@register
class RequestSubmitted(RequestEvent):
    type = "itsm.request.submitted"

    requested_by: str
    requested_for: str
    short_description: str
    state: RequestState
    submitted_at: datetime
    items: list[RequestedItemSummary]


@register
class RequestApprovalRequested(RequestEvent):
    """An item's approval stage began: these people are asked (notifications tells them)."""

    type = "itsm.request.approval_requested"

    item_id: str
    approval_id: str
    stage: int
    approvers: list[str]
    rule: Literal["any", "all"]
    requested_for: str


@register
class RequestApproved(RequestEvent):
    """An item's approval stage was approved (by its rule: any one approver, or all of them)."""

    type = "itsm.request.approved"

    item_id: str
    approval_id: str
    stage: int
    approved_by: list[str]
    approved_at: datetime


@register
class RequestRejected(RequestEvent):
    """An item's approval was rejected: the item is closed (rejected) and goes no further."""

    type = "itsm.request.rejected"

    item_id: str
    approval_id: str
    stage: int
    rejected_by: str
    comment: str = ""
    rejected_at: datetime
    request_state: RequestState


class TaskEvent(EventData):
    topic = topics.REQUESTS

    task_id: str
    task_number: str  # TASK0001001
    record_type: TaskRecordType
    record_id: str  # the requested item, incident, change or request the task is for
    request_id: str | None = None  # set for a requested item's tasks
    actor: str | None = None


@register
class RequestTaskAssigned(TaskEvent):
    """A task was given to a group (and maybe a person): by its flow, a dispatch rule, the group's method or a user."""

    type = "itsm.request.task_assigned"

    name: str
    assignment_group: str | None = None
    assignee: str | None = None
    previous_assignment_group: str | None = None
    previous_assignee: str | None = None
    # How: the dispatch rule that chose the group (name and version at the time), the group's method for the person.
    dispatch_rule: str | None = None
    dispatch_rule_version: int | None = None
    method: DispatchMethod | None = None
    assigned_at: datetime


@register
class RequestTaskCompleted(TaskEvent):
    """A task was finished: done, or closed incomplete (which makes its item incomplete), or canceled."""

    type = "itsm.request.task_completed"

    name: str
    outcome: Literal["done", "incomplete", "canceled"]
    completed_at: datetime


@register
class RequestFulfilled(RequestEvent):
    """A requested item was fulfilled: every task of its flow is done."""

    type = "itsm.request.fulfilled"

    item_id: str
    fulfilled_at: datetime
    request_state: RequestState


@register
class RequestClosed(RequestEvent):
    """The request reached a final state (fulfilled, closed incomplete, rejected, canceled): each item's with it."""

    type = "itsm.request.closed"

    state: RequestState
    items: list[RequestedItemSummary]
    closed_at: datetime


# --- dispatch ----------------------------------------------------------------------------------------------------

@register
class RecordDispatched(EventData):
    """Dispatch rules chose a group (and the group's method a person) for an incident or a problem; the owning
    service assigns it unless someone assigned it meanwhile. A task's dispatch is its task_assigned event."""

    type = "itsm.record.dispatched"
    topic = topics.REQUESTS

    record_type: DispatchedRecordType
    record_id: str
    assignment_group: str | None = None
    assignee: str | None = None
    dispatch_rule: str | None = None  # the first rule that matched; null: the group came with the record
    dispatch_rule_version: int | None = None
    method: DispatchMethod | None = None
    decided_at: datetime


# --- work orders -------------------------------------------------------------------------------------------------

# A work-order template's field value: text, a number, or null (clear it).
FieldValue = str | int | None


@register
class WorkOrderApplied(EventData):
    """A work-order template was applied to a record: the owning service sets `fields` (the requests service has
    already created the template's tasks, listed here)."""

    type = "itsm.work_order.applied"
    topic = topics.REQUESTS

    template: str
    record_type: Literal["incident", "change", "request"]
    record_id: str
    fields: dict[str, FieldValue]
    task_ids: list[str] = []
    # The same tasks' numbers (TASK0001001), in the same order, for the record's timeline (other-services helper,
    # issue 17: additive; an older event without them names the tasks by id).
    task_numbers: list[str] = []
    applied_at: datetime
    actor: str | None = None
