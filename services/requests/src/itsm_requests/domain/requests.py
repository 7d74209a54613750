"""Requests: what a requester orders (one or more requested items) and each item's walk through its fulfilment flow.
Pure: no I/O.

One aggregate: a request with its requested items, their approvals and their tasks (its events' subject is the
request id, their sequence its version). Each item walks the stages of the flow it was ordered with (domain.flows),
one after another: an approval stage asks people fixed when it begins; a tasks stage opens its tasks at once. Who is
asked and who gets a task needs the directory and the dispatch rules, so a command only moves the items on; the
handler then begins each stage `stages_to_begin` names (`begin_approval`, `begin_tasks`), in the same transaction.

The request's state is not set by hand: it derives from its items' (`derive_state`), and every derived move is
checked against REQUEST_TRANSITIONS.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from itsm_contracts.events import EventData
from itsm_contracts.events.requests import (
    RequestApprovalRequested, RequestApproved, RequestClosed, RequestedItemSummary, RequestFulfilled, RequestRejected,
    RequestSubmitted, RequestTaskAssigned,
)
from itsm_kit.domain import (
    Activity, ActivityKind, Conflict, DomainError, InvalidValue, RaisesEvents, activity_text, check_transition,
)
from itsm_requests.domain.dispatch import Decision
from itsm_requests.domain.flows import ApprovalStage, Flow, Stage, TasksStage, flow_from_json
from itsm_requests.domain.tasks import Task, TaskState


class RequestState(StrEnum):
    NEW = "new"  # before its items' flows begin (within the submission)
    PENDING_APPROVAL = "pending_approval"
    IN_FULFILMENT = "in_fulfilment"
    FULFILLED = "fulfilled"
    CLOSED_INCOMPLETE = "closed_incomplete"
    REJECTED = "rejected"
    CANCELED = "canceled"


class ItemState(StrEnum):
    PENDING_APPROVAL = "pending_approval"  # at an approval stage
    IN_FULFILMENT = "in_fulfilment"  # at a tasks stage
    FULFILLED = "fulfilled"
    CLOSED_INCOMPLETE = "closed_incomplete"  # a task was closed incomplete
    REJECTED = "rejected"
    CANCELED = "canceled"


class ApprovalState(StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"
    REJECTED = "rejected"
    CANCELED = "canceled"  # its item was canceled before anyone decided


FINAL_ITEM_STATES = frozenset({ItemState.FULFILLED, ItemState.CLOSED_INCOMPLETE, ItemState.REJECTED,
                               ItemState.CANCELED})
FINAL_REQUEST_STATES = frozenset({RequestState.FULFILLED, RequestState.CLOSED_INCOMPLETE, RequestState.REJECTED,
                                  RequestState.CANCELED})

# An item moves on when a stage is done: to the next stage's state, or fulfilled after the last.
ITEM_TRANSITIONS: dict[ItemState, frozenset[ItemState]] = {
    ItemState.PENDING_APPROVAL: frozenset({ItemState.IN_FULFILMENT, ItemState.FULFILLED, ItemState.REJECTED,
                                           ItemState.CANCELED}),
    ItemState.IN_FULFILMENT: frozenset({ItemState.PENDING_APPROVAL, ItemState.FULFILLED, ItemState.CLOSED_INCOMPLETE,
                                        ItemState.CANCELED}),
    ItemState.FULFILLED: frozenset(),
    ItemState.CLOSED_INCOMPLETE: frozenset(),
    ItemState.REJECTED: frozenset(),
    ItemState.CANCELED: frozenset(),
}

# Where a request may go, as its items move (one command moves one item, or cancels them all). A request is
# rejected only when every item was, each at an approval: so only from pending approval.
REQUEST_TRANSITIONS: dict[RequestState, frozenset[RequestState]] = {
    RequestState.NEW: frozenset({RequestState.PENDING_APPROVAL, RequestState.IN_FULFILMENT, RequestState.FULFILLED}),
    RequestState.PENDING_APPROVAL: frozenset({RequestState.IN_FULFILMENT, RequestState.FULFILLED,
                                              RequestState.CLOSED_INCOMPLETE, RequestState.REJECTED,
                                              RequestState.CANCELED}),
    RequestState.IN_FULFILMENT: frozenset({RequestState.PENDING_APPROVAL, RequestState.FULFILLED,
                                           RequestState.CLOSED_INCOMPLETE, RequestState.CANCELED}),
    RequestState.FULFILLED: frozenset(),
    RequestState.CLOSED_INCOMPLETE: frozenset(),
    RequestState.REJECTED: frozenset(),
    RequestState.CANCELED: frozenset(),
}


def derive_state(items: Iterable[ItemState]) -> RequestState:
    """A request's state from its items': waiting for an approval while any item is; in fulfilment while any is;
    once all are final, fulfilled / rejected / canceled when all are that, else closed incomplete."""
    states = list(items)
    if not states:
        return RequestState.NEW
    if ItemState.PENDING_APPROVAL in states:
        return RequestState.PENDING_APPROVAL
    if ItemState.IN_FULFILMENT in states:
        return RequestState.IN_FULFILMENT
    for same in (ItemState.FULFILLED, ItemState.REJECTED, ItemState.CANCELED):
        if all(state == same for state in states):
            return RequestState(same.value)
    return RequestState.CLOSED_INCOMPLETE


def approvers_for(stage: ApprovalStage, *, manager: str | None, members: Iterable[str], requested_by: str,
                  requested_for: str) -> list[str]:
    """Who an approval stage asks: the manager of the person it is for, or the group's members; never the one who
    ordered nor the one it is for (nobody approves their own request). Empty: nobody to ask, an admin decides."""
    asked = [manager] if stage.approver == "manager" and manager else (
        sorted(set(members)) if stage.approver == "group" else [])
    return [person for person in asked if person not in (requested_by, requested_for)]


class NotAnApprover(DomainError):
    """Only the approval's approvers (or an admin) decide it (the handler answers 403)."""


@dataclass
class RequestedItem:
    """One catalogue item as ordered: its answers (checked against form_version) and the flow it walks."""

    id: str
    request_id: str
    number: str
    position: int
    catalog_item_id: str
    form_version: int
    name: str
    category: str | None
    quantity: int
    answers: dict[str, Any]
    state: ItemState
    stage: int  # the stage under way (len(flow): all done)
    flow: list[dict[str, Any]]  # the flow as ordered (flows.flow_as_json)
    price: Any  # Decimal | None: the catalogue's price then
    currency: str | None
    response_target_minutes: int | None
    fulfilment_target_minutes: int | None
    closed_at: datetime | None = None

    @property
    def stages(self) -> Flow:
        return flow_from_json(self.flow)

    @property
    def finished(self) -> bool:
        return self.state in FINAL_ITEM_STATES

    def summary(self) -> RequestedItemSummary:
        return RequestedItemSummary(
            item_id=self.id, number=self.number, catalog_item_id=self.catalog_item_id, name=self.name,
            category=self.category, quantity=self.quantity, state=self.state.value,
            response_target_minutes=self.response_target_minutes,
            fulfilment_target_minutes=self.fulfilment_target_minutes)


@dataclass
class Approval:
    """An item's approval stage: who was asked (fixed when it began), their rule, and what each decided."""

    id: str
    request_id: str
    item_id: str
    stage: int
    approver: str  # manager | group
    group_name: str | None
    rule: str  # any | all
    approvers: list[str]
    decisions: list[dict[str, Any]]  # [{by, decision, comment, at, as_admin}]
    state: ApprovalState
    requested_at: datetime
    decided_at: datetime | None = None

    def decided_by(self, person: str) -> bool:
        return any(d["by"] == person for d in self.decisions)

    def waits_for(self, person: str) -> bool:
        return self.state == ApprovalState.REQUESTED and person in self.approvers and not self.decided_by(person)

    def may_be_decided_by(self, person: str, *, admin: bool = False) -> bool:
        """One of those asked, or an admin (who decides for them, e.g. when nobody could be asked)."""
        return person in self.approvers or admin

    def approved_by(self) -> list[str]:
        return [d["by"] for d in self.decisions if d["decision"] == "approved"]

    def passes(self) -> bool:
        """Rule any: one approval; all: every one asked. An admin's approval passes it for them."""
        approved = self.approved_by()
        if any(d.get("as_admin") and d["decision"] == "approved" for d in self.decisions):
            return True
        if self.rule == "all":
            return bool(self.approvers) and set(self.approvers) <= set(approved)
        return bool(approved)


def _stage_state(item: RequestedItem) -> ItemState:
    """The state an item is in at its current stage (past the last one it is being fulfilled)."""
    stages = item.stages
    if item.stage < len(stages) and isinstance(stages[item.stage], ApprovalStage):
        return ItemState.PENDING_APPROVAL
    return ItemState.IN_FULFILMENT


@dataclass
class Request(RaisesEvents):
    id: str
    number: str
    requested_by: str
    requested_for: str
    short_description: str
    state: RequestState
    opened_at: datetime
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None = None
    version: int = 0
    items: list[RequestedItem] = field(default_factory=list)
    approvals: list[Approval] = field(default_factory=list)
    tasks: list[Task] = field(default_factory=list)
    activity: list[Activity] = field(default_factory=list, repr=False, compare=False)
    events: list[tuple[int, EventData]] = field(default_factory=list, repr=False, compare=False)

    # -- submission -------------------------------------------------------------------------------------------------

    @classmethod
    def submit(cls, *, id: str, number: str, requested_by: str, requested_for: str, short_description: str,
               items: Sequence[RequestedItem], at: datetime) -> Request:
        """A new request; each item at its first stage (an item with an empty flow is fulfilled at once)."""
        if not items:
            raise InvalidValue("a request orders at least one item")
        if not short_description.strip():
            raise InvalidValue("a request needs a short description")
        request = cls(id=id, number=number, requested_by=requested_by, requested_for=requested_for,
                      short_description=short_description.strip(), state=RequestState.NEW, opened_at=at,
                      created_at=at, updated_at=at, items=list(items))
        for item in request.items:
            item.stage, item.state = 0, _stage_state(item)
        request.activity.append(Activity(ActivityKind.OPENED, requested_by, at, new_value=number,
                                         text=request.short_description))
        if requested_for != requested_by:
            request._line("requested_for", None, requested_for, at, requested_by)
        request.record(RequestSubmitted(
            request_id=id, number=number, actor=requested_by, requested_by=requested_by, requested_for=requested_for,
            short_description=request.short_description, state=derive_state(i.state for i in request.items).value,
            submitted_at=at, items=[i.summary() for i in request.items]))
        for item in request.items:
            if not item.stages:
                request._fulfil(item, at, requested_by)
        request._settle(at, requested_by)
        return request

    # -- stages -----------------------------------------------------------------------------------------------------

    def stages_to_begin(self) -> list[tuple[RequestedItem, Stage]]:
        """The items whose current stage has not begun yet, with that stage: the handler begins each."""
        waiting = []
        for item in self.items:
            stages = item.stages
            if not item.finished and item.stage < len(stages) and not self._begun(item):
                waiting.append((item, stages[item.stage]))
        return waiting

    def begin_approval(self, item_id: str, *, approval_id: str, approvers: Sequence[str], at: datetime,
                       actor: str) -> Approval:
        """The item's approval stage begins: these people are asked (none: an admin decides)."""
        item = self._item(item_id)
        stage = self._current_stage(item, ApprovalStage)
        approval = Approval(id=approval_id, request_id=self.id, item_id=item.id, stage=item.stage,
                            approver=stage.approver, group_name=stage.group, rule=stage.rule,
                            approvers=list(dict.fromkeys(approvers)), decisions=[],
                            state=ApprovalState.REQUESTED, requested_at=at)
        self.approvals.append(approval)
        self._line(f"{item.number}.approvers", None, approval.approvers or None, at, actor,
                   text=None if approval.approvers else "nobody to ask: an admin decides")
        self.record(RequestApprovalRequested(
            request_id=self.id, number=self.number, actor=actor, item_id=item.id, approval_id=approval.id,
            stage=item.stage, approvers=approval.approvers, rule=stage.rule, requested_for=self.requested_for))
        self.updated_at = at
        return approval

    def begin_tasks(self, item_id: str, tasks: Sequence[tuple[Task, Decision]], *, at: datetime, actor: str) -> None:
        """The item's tasks stage begins: every task opens at once, each given to whom dispatch decided."""
        item = self._item(item_id)
        self._current_stage(item, TasksStage)
        for task, decision in tasks:
            if task.record_id != item.id or task.stage != item.stage or task.request_id != self.id:
                raise ValueError(f"task {task.number} is not of {item.number}'s stage {item.stage}")
            self.tasks.append(task)
            self._line(f"{task.number}.state", None, task.state.value, at, actor, text=task.name)
            if decision.assignment_group is not None or decision.assignee is not None:
                self._task_changed(task, task.assign(
                    decision.assignment_group, decision.assignee, at, actor, rule=decision.rule,
                    rule_version=decision.rule_version, method=decision.method), at, actor)
            else:
                self._line(f"{task.number}.assigned", None, None, at, actor,
                           text="no dispatch rule matched and the flow names no group: unassigned")
        self.updated_at = at

    # -- approvals --------------------------------------------------------------------------------------------------

    def decide(self, approval_id: str, *, by: str, approve: bool, comment: str, at: datetime,
               admin: bool = False) -> Approval:
        """An approver's (or an admin's) decision. One rejection rejects the item; approvals pass the stage by its
        rule, and the item moves on to its next stage (or is fulfilled after its last)."""
        approval, since = self.approval(approval_id), self.version
        if approval.state != ApprovalState.REQUESTED:
            raise Conflict(f"this approval was already {approval.state.value}", approval_state=approval.state.value)
        if not approval.may_be_decided_by(by, admin=admin):
            raise NotAnApprover("only the people asked (or an admin) decide this approval")
        if approval.decided_by(by):
            raise Conflict(f"{by} already decided this approval")
        item = self._item(approval.item_id)
        decision = "approved" if approve else "rejected"
        approval.decisions.append({"by": by, "decision": decision, "comment": comment, "at": at.isoformat(),
                                   "as_admin": by not in approval.approvers})
        self._line(f"{item.number}.approval", None, f"{decision} by {by}", at, by, text=comment or None)
        self.updated_at = at
        if not approve:
            approval.state, approval.decided_at = ApprovalState.REJECTED, at
            self._move_item(item, ItemState.REJECTED, at, by)
            self.record(RequestRejected(
                request_id=self.id, number=self.number, actor=by, item_id=item.id, approval_id=approval.id,
                stage=approval.stage, rejected_by=by, comment=comment, rejected_at=at,
                request_state=derive_state(i.state for i in self.items).value))
            self._close_leftovers(item, at, by)
        elif approval.passes():
            approval.state, approval.decided_at = ApprovalState.APPROVED, at
            self.record(RequestApproved(
                request_id=self.id, number=self.number, actor=by, item_id=item.id, approval_id=approval.id,
                stage=approval.stage, approved_by=approval.approved_by(), approved_at=at))
            self._stage_done(item, at, by)
        self._settle(at, by)
        self._changed(since)
        return approval

    # -- tasks ------------------------------------------------------------------------------------------------------

    def assign_task(self, task_id: str, *, group: str | None, assignee: str | None, at: datetime,
                    actor: str) -> Task:
        """A user gives one of its tasks to a group and person (no rule: the timeline says who did)."""
        task = self.task(task_id)
        if (task.assignment_group, task.assignee) != (group, assignee):
            self._task_changed(task, task.assign(group, assignee, at, actor), at, actor)
            self.updated_at = at
        return task

    def move_task(self, task_id: str, state: TaskState, *, at: datetime, actor: str) -> Task:
        """A task moves by TASK_TRANSITIONS. Its stage is done when every task of it is finished (a canceled task
        was not needed); then the item moves on. A task closed incomplete closes its item incomplete."""
        task, since = self.task(task_id), self.version
        old = task.state
        completed = task.move(state, at, actor)
        self._line(f"{task.number}.state", old.value, state.value, at, actor)
        self._task_changed(task, completed, at, actor)
        self.updated_at = at
        item = self._item(task.record_id)
        if state == TaskState.INCOMPLETE and not item.finished:
            self._move_item(item, ItemState.CLOSED_INCOMPLETE, at, actor)
            self._close_leftovers(item, at, actor)
        elif task.finished and not item.finished and task.stage == item.stage and all(
                t.finished for t in self.tasks if t.record_id == item.id and t.stage == item.stage):
            self._stage_done(item, at, actor)
        self._settle(at, actor)
        self._changed(since)
        return task

    # -- cancel -----------------------------------------------------------------------------------------------------

    def cancel(self, *, at: datetime, actor: str, reason: str = "") -> None:
        """Its unfinished items are canceled, with their open approvals and tasks."""
        check_transition(REQUEST_TRANSITIONS, "a request", self.state, RequestState.CANCELED)
        if reason:
            self.activity.append(Activity(ActivityKind.COMMENT, actor, at, text=reason))
        for item in self.items:
            if not item.finished:
                self._move_item(item, ItemState.CANCELED, at, actor)
                self._close_leftovers(item, at, actor)
        self.updated_at = at
        self._settle(at, actor)

    # -- lookups ----------------------------------------------------------------------------------------------------

    def approval(self, approval_id: str) -> Approval:
        for approval in self.approvals:
            if approval.id == approval_id:
                return approval
        raise KeyError(approval_id)

    def task(self, task_id: str) -> Task:
        for task in self.tasks:
            if task.id == task_id:
                return task
        raise KeyError(task_id)

    def _item(self, item_id: str) -> RequestedItem:
        for item in self.items:
            if item.id == item_id:
                return item
        raise KeyError(item_id)

    def involves(self, person: str) -> bool:
        return person in (self.requested_by, self.requested_for)

    # -- the walk ---------------------------------------------------------------------------------------------------

    def _begun(self, item: RequestedItem) -> bool:
        return any(a.item_id == item.id and a.stage == item.stage for a in self.approvals) or any(
            t.record_id == item.id and t.stage == item.stage for t in self.tasks)

    def _current_stage(self, item: RequestedItem, kind: type) -> Any:
        stages = item.stages
        if item.finished or item.stage >= len(stages) or not isinstance(stages[item.stage], kind) or self._begun(item):
            raise Conflict(f"{item.number} is not waiting for a {kind.__name__} to begin")
        return stages[item.stage]

    def _stage_done(self, item: RequestedItem, at: datetime, actor: str) -> None:
        item.stage += 1
        if item.stage >= len(item.stages):
            self._fulfil(item, at, actor)
        else:
            self._move_item(item, _stage_state(item), at, actor)

    def _fulfil(self, item: RequestedItem, at: datetime, actor: str) -> None:
        item.stage = len(item.stages)
        self._move_item(item, ItemState.FULFILLED, at, actor)
        self.record(RequestFulfilled(request_id=self.id, number=self.number, actor=actor, item_id=item.id,
                                     fulfilled_at=at, request_state=derive_state(i.state for i in self.items).value))

    def _move_item(self, item: RequestedItem, state: ItemState, at: datetime, actor: str) -> None:
        if state == item.state:
            return
        check_transition(ITEM_TRANSITIONS, "a requested item", item.state, state)
        self._line(f"{item.number}.state", item.state.value, state.value, at, actor)
        item.state = state
        if state in FINAL_ITEM_STATES:
            item.closed_at = at

    def _close_leftovers(self, item: RequestedItem, at: datetime, actor: str) -> None:
        """A closed item's open approvals and tasks are no longer needed."""
        for approval in self.approvals:
            if approval.item_id == item.id and approval.state == ApprovalState.REQUESTED:
                approval.state, approval.decided_at = ApprovalState.CANCELED, at
        for task in self.tasks:
            if task.record_id == item.id and not task.finished:
                old = task.state
                self._task_changed(task, task.move(TaskState.CANCELED, at, actor), at, actor)
                self._line(f"{task.number}.state", old.value, TaskState.CANCELED.value, at, actor)

    def _changed(self, since: int) -> None:
        """Every change moves the request's version (its ETag) on, with events or without (a first approval of
        several, a task taken in progress): a gap in its events' sequence, never a repeat."""
        if self.version == since:
            self.version += 1

    def _task_changed(self, task: Task, event: EventData | None, at: datetime, actor: str) -> None:
        """A task of this request changed: its own version moves on (If-Match on /tasks), the request records the
        event (its subject is the request)."""
        task.version += 1
        if event is None:
            return
        self.record(event)
        if isinstance(event, RequestTaskAssigned):
            who = " / ".join(v for v in (event.assignment_group, event.assignee) if v) or None
            how = (f"dispatch rule {event.dispatch_rule} (version {event.dispatch_rule_version})"
                   if event.dispatch_rule else "")
            if event.method:
                how = f"{how}, {event.method}" if how else f"the group's method {event.method}"
            self._line(f"{task.number}.assigned", None, who, at, actor, text=how or None)

    def _settle(self, at: datetime, actor: str) -> None:
        """The request's state follows its items' (checked against the table); closed once final."""
        derived = derive_state(i.state for i in self.items)
        if derived == self.state:
            return
        check_transition(REQUEST_TRANSITIONS, "a request", self.state, derived)
        self._line("state", self.state.value, derived.value, at, actor)
        self.state, self.updated_at = derived, at
        if derived in FINAL_REQUEST_STATES:
            self.closed_at = at
            self.record(RequestClosed(request_id=self.id, number=self.number, actor=actor, state=derived.value,
                                      items=[i.summary() for i in self.items], closed_at=at))

    def _line(self, name: str, old: object, new: object, at: datetime, actor: str, *, text: str | None = None) -> None:
        self.activity.append(Activity(ActivityKind.FIELD, actor, at, field=name, old_value=activity_text(old),
                                      new_value=activity_text(new), text=text))
