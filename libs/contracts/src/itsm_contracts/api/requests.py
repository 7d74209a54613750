"""Requests (issue 17): what a requester orders from the catalogue, its items' approvals and fulfilment tasks, as the
requests service serves them and the gateway re-exposes them."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from itsm_contracts.api.incidents import Name
from itsm_contracts.api.values import RecordId, WholeNumber
from itsm_contracts.events.requests import ItemState, RequestState, TaskRecordType, TaskState

Person = Annotated[str, Field(min_length=1, max_length=255, description="a username (a token's subject)")]
MAX_ITEMS = 200  # the service's own bound (ITSM_REQUESTS_MAX_ITEMS_PER_REQUEST) is at most this
MAX_COMMENT = 4_000
Cursor = Annotated[str | None, Field(max_length=1_000, description="`next_cursor` of the page before")]
Limit = Annotated[int, Field(ge=1, le=200)]


class ItemOrder(BaseModel):
    """One catalogue item ordered: how many, and the answers to its form (checked against its current version)."""

    model_config = ConfigDict(extra="forbid")

    catalog_item_id: RecordId
    quantity: WholeNumber = Field(default=1, ge=1, le=100)
    answers: dict[str, Any] = Field(default={}, description="the item's form's answers (a JSON object)")


class RequestCreate(BaseModel):
    """POST /requests: one or more items. A requester orders for themselves; an agent may order for someone."""

    model_config = ConfigDict(extra="forbid")

    short_description: str | None = Field(default=None, min_length=1, max_length=300,
                                          description="default: the items' names")
    requested_for: Person | None = Field(default=None, description="who it is for (default: who orders; a requester "
                                                                   "always orders for themselves)")
    items: list[ItemOrder] = Field(min_length=1, max_length=MAX_ITEMS)


class RequestCancel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="", max_length=MAX_COMMENT)


class ApprovalDecision(BaseModel):
    """POST /approvals/{id}/approve or /reject."""

    model_config = ConfigDict(extra="forbid")

    comment: str = Field(default="", max_length=MAX_COMMENT)


class TaskAssign(BaseModel):
    """POST /tasks/{id}/assign: the group and person (null: nobody) the task is given to."""

    model_config = ConfigDict(extra="forbid")

    assignment_group: Name | None = None
    assignee: Person | None = None


class TaskMove(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: TaskState


class RequestedItemPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    number: str
    position: int
    catalog_item_id: str
    form_version: int = Field(description="the form version the answers were checked against")
    name: str
    category: str | None
    quantity: int
    answers: dict[str, Any]
    state: ItemState
    stage: int = Field(description="the stage under way (its index in flow; len(flow) once past the last)")
    flow: list[dict[str, Any]] = Field(description="the fulfilment flow as ordered")
    price: Decimal | None
    currency: str | None
    response_target_minutes: int | None
    fulfilment_target_minutes: int | None
    closed_at: datetime | None


class ApprovalPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    request_id: str
    item_id: str
    stage: int
    approver: Literal["manager", "group"]
    group_name: str | None
    rule: Literal["any", "all"]
    approvers: list[str] = Field(description="who is asked, fixed when the stage began (empty: an admin decides)")
    decisions: list[dict[str, Any]] = Field(description="[{by, decision, comment, at, as_admin}]")
    state: Literal["requested", "approved", "rejected", "canceled"]
    requested_at: datetime
    decided_at: datetime | None


class TaskPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    number: str
    record_type: TaskRecordType
    record_id: str = Field(description="the requested item, incident, change or request it is for")
    request_id: str | None = Field(description="set for a requested item's task")
    stage: int | None
    name: str
    description: str
    assignment_group: str | None
    assignee: str | None
    state: TaskState
    dispatch_rule: str | None = Field(description="the dispatch rule that chose its group, as named then")
    dispatch_rule_version: int | None
    template: str | None = Field(description="the work-order template that made it")
    opened_at: datetime
    closed_at: datetime | None
    updated_at: datetime
    version: int


class RequestPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    number: str
    requested_by: str
    requested_for: str
    short_description: str
    state: RequestState
    opened_at: datetime
    closed_at: datetime | None
    updated_at: datetime
    version: int
    items: list[RequestedItemPublic]
    approvals: list[ApprovalPublic]
    tasks: list[TaskPublic]


class RequestPage(BaseModel):
    items: list[RequestPublic]
    next_cursor: str | None


class RequestQuery(BaseModel):
    """Which requests, newest first: every filter given must hold."""

    state: list[RequestState] = []
    requested_by: Person | None = None
    requested_for: Person | None = None
    involving: Person | None = Field(default=None, description="ordered by or for this person")
    cursor: Cursor = None
    limit: Limit = 50


class RequestActivityEntry(BaseModel):
    """One line of a request's timeline: opened, a change (of the request, an item, an approval or a task)."""

    id: int
    request_id: str
    at: datetime
    actor: str
    kind: Literal["opened", "field", "comment", "work_note"]
    field: str | None = Field(default=None, description='what changed: "state", "RITM0001001.state", '
                                                        '"RITM0001001.approval", "TASK0001001.assigned", ...')
    old_value: str | None = None
    new_value: str | None = None
    text: str | None = None


class RequestActivityPage(BaseModel):
    items: list[RequestActivityEntry]
    next_cursor: str | None


class ApprovalWaiting(ApprovalPublic):
    """An approval in someone's inbox, with what it is about."""

    request_number: str
    short_description: str
    requested_by: str
    requested_for: str
    item_number: str
    item_name: str


class ApprovalPage(BaseModel):
    items: list[ApprovalWaiting]
    next_cursor: str | None


class TaskQuery(BaseModel):
    """Which tasks, newest opened first: every filter given must hold."""

    record_type: TaskRecordType | None = None
    record_id: RecordId | None = None
    assignment_group: Name | None = None
    assignee: Person | None = None
    state: list[TaskState] = []
    cursor: Cursor = None
    limit: Limit = 50


class TaskPage(BaseModel):
    items: list[TaskPublic]
    next_cursor: str | None
