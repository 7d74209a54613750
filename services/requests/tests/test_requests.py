"""The rules of requests, their items' flows and approvals, without a database."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime

import pytest

from itsm_kit.domain import Conflict, InvalidTransition
from itsm_requests.domain.dispatch import Decision
from itsm_requests.domain.flows import ApprovalStage, TaskSpec, TasksStage, flow_as_json
from itsm_requests.domain.requests import (
    FINAL_REQUEST_STATES, REQUEST_TRANSITIONS, ApprovalState, ItemState, NotAnApprover, Request, RequestedItem,
    RequestState, approvers_for, derive_state,
)
from itsm_requests.domain.tasks import Task, TaskState

AT = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
_numbers = itertools.count(1001)

MANAGER = ApprovalStage(approver="manager")
BUILD = TasksStage((TaskSpec("prepare laptop", assignment_group="hardware"),
                    TaskSpec("create account", assignment_group="identity")))
SHIP = TasksStage((TaskSpec("ship it", assignment_group="logistics"),))


def item(*stages, position: int = 0) -> RequestedItem:
    return RequestedItem(
        id=str(uuid.uuid4()), request_id="", number=f"RITM{next(_numbers):07d}", position=position,
        catalog_item_id="laptop", form_version=1, name="New laptop", category="hardware", quantity=1,
        answers={"ram_gb": 16}, state=ItemState.IN_FULFILMENT, stage=0, flow=flow_as_json(tuple(stages)),
        price=None, currency=None, response_target_minutes=60, fulfilment_target_minutes=2880)


def submit(*items: RequestedItem, requested_by: str = "alice", requested_for: str = "alice") -> Request:
    request_id = str(uuid.uuid4())
    for i in items:
        i.request_id = request_id
    return Request.submit(id=request_id, number="REQ0001001", requested_by=requested_by, requested_for=requested_for,
                          short_description="New laptop", items=list(items), at=AT)


def begin(request: Request, *, approvers: dict[str, list[str]] | None = None) -> None:
    """What the handler does after each command: begin every stage waiting, as the directory and dispatch say."""
    for it, stage in request.stages_to_begin():
        if isinstance(stage, ApprovalStage):
            request.begin_approval(it.id, approval_id=str(uuid.uuid4()),
                                   approvers=(approvers or {}).get(it.id, ["bob"]), at=AT, actor="system")
        else:
            tasks = [(Task.opened(id=str(uuid.uuid4()), number=f"TASK{next(_numbers):07d}", record_type="request_item",
                                  record_id=it.id, request_id=request.id, stage=it.stage, name=spec.name,
                                  description=spec.description, at=AT),
                      Decision(assignment_group=spec.assignment_group, assignee=None, rule="r1", rule_version=2,
                               method="round_robin")) for spec in stage.tasks]
            request.begin_tasks(it.id, tasks, at=AT, actor="system")


def types(request: Request) -> list[str]:
    return [event.type for _, event in request.events]


def open_tasks(request: Request) -> list[Task]:
    return [t for t in request.tasks if not t.finished]


# -- the derivation of a request's state, and its table ---------------------------------------------------------

@pytest.mark.parametrize(("items", "expected"), [
    ([ItemState.PENDING_APPROVAL, ItemState.IN_FULFILMENT, ItemState.FULFILLED], RequestState.PENDING_APPROVAL),
    ([ItemState.IN_FULFILMENT, ItemState.FULFILLED, ItemState.REJECTED], RequestState.IN_FULFILMENT),
    ([ItemState.FULFILLED, ItemState.FULFILLED], RequestState.FULFILLED),
    ([ItemState.REJECTED, ItemState.REJECTED], RequestState.REJECTED),
    ([ItemState.CANCELED], RequestState.CANCELED),
    ([ItemState.FULFILLED, ItemState.CANCELED], RequestState.CLOSED_INCOMPLETE),
    ([ItemState.FULFILLED, ItemState.REJECTED], RequestState.CLOSED_INCOMPLETE),
    ([ItemState.CLOSED_INCOMPLETE], RequestState.CLOSED_INCOMPLETE),
])
def test_a_request_state_derives_from_its_items(items, expected):
    assert derive_state(items) == expected


def test_final_requests_go_nowhere_and_only_a_pending_approval_is_rejected():
    assert all(not REQUEST_TRANSITIONS[state] for state in FINAL_REQUEST_STATES)
    assert [s for s, nexts in REQUEST_TRANSITIONS.items() if RequestState.REJECTED in nexts] == [
        RequestState.PENDING_APPROVAL]


def test_a_derived_move_the_table_does_not_list_is_refused():
    request = submit(item(BUILD))
    request.state = RequestState.FULFILLED  # as if closed already: nothing may move it
    with pytest.raises(InvalidTransition):
        request._settle(AT, "alice")


# -- flows -----------------------------------------------------------------------------------------------------

def test_an_empty_flow_fulfils_the_item_when_it_is_ordered():
    request = submit(item())
    assert request.items[0].state == ItemState.FULFILLED
    assert request.state == RequestState.FULFILLED and request.closed_at == AT
    assert types(request) == ["itsm.request.submitted", "itsm.request.fulfilled", "itsm.request.closed"]
    assert request.stages_to_begin() == []


def test_a_parallel_tasks_stage_opens_every_task_at_once_and_fulfils_when_all_are_done():
    request = submit(item(BUILD))
    begin(request)
    assert request.state == RequestState.IN_FULFILMENT
    assert [(t.name, t.assignment_group, t.dispatch_rule, t.state) for t in request.tasks] == [
        ("prepare laptop", "hardware", "r1", TaskState.OPEN), ("create account", "identity", "r1", TaskState.OPEN)]
    assert types(request).count("itsm.request.task_assigned") == 2
    first, second = request.tasks
    request.move_task(first.id, TaskState.DONE, at=AT, actor="carol")
    assert request.items[0].state == ItemState.IN_FULFILMENT  # one of two done
    request.move_task(second.id, TaskState.DONE, at=AT, actor="dave")
    assert request.items[0].state == ItemState.FULFILLED and request.state == RequestState.FULFILLED
    assert types(request)[-4:] == ["itsm.request.task_completed", "itsm.request.task_completed",
                                   "itsm.request.fulfilled", "itsm.request.closed"]


def test_sequential_stages_open_one_after_another():
    request = submit(item(BUILD, SHIP))
    begin(request)
    assert {t.name for t in open_tasks(request)} == {"prepare laptop", "create account"}
    for task in list(request.tasks):
        request.move_task(task.id, TaskState.DONE, at=AT, actor="carol")
    assert request.items[0].stage == 1 and request.state == RequestState.IN_FULFILMENT
    [(waiting, stage)] = request.stages_to_begin()
    assert stage == SHIP
    begin(request)
    [ship] = open_tasks(request)
    assert ship.name == "ship it" and ship.stage == 1
    request.move_task(ship.id, TaskState.DONE, at=AT, actor="carol")
    assert request.state == RequestState.FULFILLED


def test_a_task_closed_incomplete_closes_its_item_incomplete_and_cancels_the_rest():
    request = submit(item(BUILD))
    begin(request)
    first, second = request.tasks
    request.move_task(first.id, TaskState.INCOMPLETE, at=AT, actor="carol")
    assert request.items[0].state == ItemState.CLOSED_INCOMPLETE
    assert second.state == TaskState.CANCELED
    assert request.state == RequestState.CLOSED_INCOMPLETE


def test_a_task_moves_only_by_its_table():
    request = submit(item(BUILD))
    begin(request)
    task = request.tasks[0]
    request.move_task(task.id, TaskState.DONE, at=AT, actor="carol")
    with pytest.raises(InvalidTransition):
        request.move_task(task.id, TaskState.IN_PROGRESS, at=AT, actor="carol")


# -- approvals -------------------------------------------------------------------------------------------------

def test_a_manager_approval_lets_the_item_move_on_to_its_tasks():
    request = submit(item(MANAGER, BUILD))
    assert request.state == RequestState.PENDING_APPROVAL
    begin(request)
    [approval] = request.approvals
    assert approval.approvers == ["bob"] and approval.waits_for("bob")
    request.decide(approval.id, by="bob", approve=True, comment="", at=AT)
    assert approval.state == ApprovalState.APPROVED
    assert request.items[0].state == ItemState.IN_FULFILMENT and request.state == RequestState.IN_FULFILMENT
    begin(request)
    assert len(open_tasks(request)) == 2
    assert "itsm.request.approved" in types(request)


def test_rule_any_passes_on_the_first_approval_and_all_needs_everyone():
    any_request = submit(item(ApprovalStage(approver="group", group="cab", rule="any"), BUILD))
    begin(any_request, approvers={any_request.items[0].id: ["bob", "carol"]})
    any_request.decide(any_request.approvals[0].id, by="carol", approve=True, comment="", at=AT)
    assert any_request.approvals[0].state == ApprovalState.APPROVED

    all_request = submit(item(ApprovalStage(approver="group", group="cab", rule="all"), BUILD))
    begin(all_request, approvers={all_request.items[0].id: ["bob", "carol"]})
    approval = all_request.approvals[0]
    all_request.decide(approval.id, by="carol", approve=True, comment="", at=AT)
    assert approval.state == ApprovalState.REQUESTED and all_request.state == RequestState.PENDING_APPROVAL
    assert approval.waits_for("bob") and not approval.waits_for("carol")
    with pytest.raises(Conflict):
        all_request.decide(approval.id, by="carol", approve=True, comment="", at=AT)
    all_request.decide(approval.id, by="bob", approve=True, comment="", at=AT)
    assert approval.state == ApprovalState.APPROVED and all_request.state == RequestState.IN_FULFILMENT


def test_one_rejection_rejects_the_item():
    request = submit(item(ApprovalStage(approver="group", group="cab", rule="all"), BUILD))
    begin(request, approvers={request.items[0].id: ["bob", "carol"]})
    approval = request.approvals[0]
    request.decide(approval.id, by="bob", approve=True, comment="", at=AT)
    request.decide(approval.id, by="carol", approve=False, comment="too dear", at=AT)
    assert approval.state == ApprovalState.REJECTED
    assert request.items[0].state == ItemState.REJECTED and request.state == RequestState.REJECTED
    assert request.stages_to_begin() == [] and request.tasks == []
    assert types(request)[-2:] == ["itsm.request.rejected", "itsm.request.closed"]
    rejected = request.events[-2][1]
    assert rejected.comment == "too dear" and rejected.request_state == "rejected"


def test_a_rejected_item_beside_a_fulfilled_one_closes_the_request_incomplete():
    request = submit(item(), item(MANAGER, BUILD, position=1))
    begin(request)
    request.decide(request.approvals[0].id, by="bob", approve=False, comment="", at=AT)
    assert request.state == RequestState.CLOSED_INCOMPLETE


def test_only_those_asked_decide_and_an_admin_decides_for_them():
    request = submit(item(MANAGER, BUILD))
    begin(request)
    approval = request.approvals[0]
    assert not approval.may_be_decided_by("mallory")
    with pytest.raises(NotAnApprover):
        request.decide(approval.id, by="mallory", approve=True, comment="", at=AT)
    request.decide(approval.id, by="root", approve=True, comment="bob is away", at=AT, admin=True)
    assert approval.state == ApprovalState.APPROVED
    assert approval.decisions[0]["as_admin"] is True


def test_an_approval_with_nobody_to_ask_waits_for_an_admin():
    request = submit(item(MANAGER, BUILD))
    begin(request, approvers={request.items[0].id: []})
    approval = request.approvals[0]
    assert approval.approvers == [] and request.state == RequestState.PENDING_APPROVAL
    assert not approval.passes()
    request.decide(approval.id, by="root", approve=True, comment="", at=AT, admin=True)
    assert request.state == RequestState.IN_FULFILMENT


def test_approvers_are_the_manager_or_the_members_but_never_the_requester():
    group = ApprovalStage(approver="group", group="cab")
    assert approvers_for(MANAGER, manager="bob", members=[], requested_by="alice", requested_for="alice") == ["bob"]
    assert approvers_for(MANAGER, manager=None, members=["x"], requested_by="alice", requested_for="alice") == []
    assert approvers_for(group, manager="bob", members=["carol", "alice", "bob", "carol"], requested_by="alice",
                         requested_for="alice") == ["bob", "carol"]
    assert approvers_for(MANAGER, manager="bob", members=[], requested_by="bob", requested_for="alice") == []


# -- cancel ----------------------------------------------------------------------------------------------------

def test_cancel_cancels_unfinished_items_open_approvals_and_tasks():
    request = submit(item(BUILD), item(MANAGER, position=1))
    begin(request)
    request.cancel(at=AT, actor="alice", reason="no longer needed")
    assert request.state == RequestState.CANCELED
    assert all(t.state == TaskState.CANCELED for t in request.tasks)
    assert request.approvals[0].state == ApprovalState.CANCELED
    assert types(request).count("itsm.request.task_completed") == 2 and types(request)[-1] == "itsm.request.closed"
    with pytest.raises(InvalidTransition):
        request.cancel(at=AT, actor="alice")


def test_events_carry_the_request_version_as_their_sequence():
    request = submit(item(MANAGER, BUILD))
    begin(request)
    assert [sequence for sequence, _ in request.events] == list(range(1, request.version + 1))


def test_a_change_without_an_event_still_moves_the_version_on():
    request = submit(item(ApprovalStage(approver="group", group="cab", rule="all"), BUILD))
    begin(request, approvers={request.items[0].id: ["bob", "carol"]})
    before, events = request.version, len(request.events)
    request.decide(request.approvals[0].id, by="bob", approve=True, comment="", at=AT)  # one of two: no event
    assert len(request.events) == events and request.version == before + 1
