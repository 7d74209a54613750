"""Requests, their approvals and every fulfilment task (issue 17).

Who acts (and their groups: what they may order) is the gateway's signature's; the gateway scopes what a requester
sees and sets `admin` on a decision only for admins.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from itsm_contracts.api.requests import (
    ApprovalDecision, ApprovalPage, ApprovalWaiting, RequestActivityEntry, RequestActivityPage, RequestCancel,
    RequestCreate, RequestPage, RequestPublic, RequestQuery, TaskAssign, TaskMove, TaskPage, TaskPublic, TaskQuery,
)
from itsm_kit.api import Actor, ActorGroups, Ident, IfMatch, PageSize, answer
from itsm_kit.runtime import RuntimeDep, UnitOfWorkDep
from itsm_kit.unit_of_work import retrying
from itsm_requests.domain.tasks import TaskState
from itsm_requests.handlers import requests as handlers
from itsm_requests.handlers import tasks as task_handlers

router = APIRouter(tags=["requests"])
AsAdmin = Annotated[bool, Query(description="set by the gateway for admins only: an admin decides for the approvers")]


def _public(request) -> RequestPublic:
    return RequestPublic.model_validate(request, from_attributes=True)


@router.post("/requests", response_model=RequestPublic, status_code=201,
             summary="Order one or more catalogue items (answers checked against each item's form)")
async def submit_request(body: RequestCreate, uow: UnitOfWorkDep, runtime: RuntimeDep, actor: Actor,
                         groups: ActorGroups, response: Response) -> RequestPublic:
    settings = runtime.settings
    request = await retrying(lambda: handlers.submit_request(
        uow, actor=actor, groups=groups, items=[i.model_dump() for i in body.items],
        short_description=body.short_description, requested_for=body.requested_for,
        max_items=settings.max_items_per_request, max_answers_bytes=settings.max_answers_bytes))
    response.headers["Location"] = f"/requests/{request.id}"
    return answer(response, RequestPublic, request)


@router.get("/requests", response_model=RequestPage, summary="Requests, newest first (filters, cursor pages)")
async def list_requests(uow: UnitOfWorkDep, query: Annotated[RequestQuery, Query()]) -> RequestPage:
    found, next_cursor = await handlers.list_requests(uow, **query.model_dump())
    return RequestPage(items=[_public(r) for r in found], next_cursor=next_cursor)


@router.get("/requests/{request_id}", response_model=RequestPublic,
            summary="A request with its items, approvals and tasks (version = ETag)")
async def get_request(request_id: Ident, uow: UnitOfWorkDep, response: Response) -> RequestPublic:
    return answer(response, RequestPublic, await handlers.get_request(uow, request_id))


@router.post("/requests/{request_id}/cancel", response_model=RequestPublic,
             summary="Cancel a request: its unfinished items, their open approvals and tasks")
async def cancel_request(request_id: Ident, uow: UnitOfWorkDep, response: Response, actor: Actor, if_match: IfMatch,
                         body: RequestCancel | None = None) -> RequestPublic:
    request = await retrying(lambda: handlers.cancel_request(uow, request_id, actor=actor, if_match=if_match,
                                                             reason=body.reason if body else ""))
    return answer(response, RequestPublic, request)


@router.get("/requests/{request_id}/activity", response_model=RequestActivityPage,
            summary="The request's timeline, newest first: every step of its items' flows")
async def list_request_activity(request_id: Ident, uow: UnitOfWorkDep, cursor: str | None = None,
                                limit: PageSize = 50) -> RequestActivityPage:
    items, next_cursor = await handlers.request_activity(uow, request_id, limit=limit, cursor=cursor)
    return RequestActivityPage(items=[RequestActivityEntry(**e) for e in items], next_cursor=next_cursor)


# -- approvals ------------------------------------------------------------------------------------------------------

@router.get("/approvals", response_model=ApprovalPage, summary="The approvals waiting for the caller's decision")
async def list_my_approvals(uow: UnitOfWorkDep, actor: Actor, cursor: str | None = None, limit: PageSize = 50,
                            include_unassigned: AsAdmin = False) -> ApprovalPage:
    items, next_cursor = await handlers.waiting_approvals(uow, approver=actor, include_unassigned=include_unassigned,
                                                          limit=limit, cursor=cursor)
    return ApprovalPage(items=[ApprovalWaiting(**row) for row in items], next_cursor=next_cursor)


@router.post("/approvals/{approval_id}/approve", response_model=RequestPublic,
             summary="Approve (one of those asked, or an admin): the item moves on by the stage's rule")
async def approve_request_item(approval_id: Ident, uow: UnitOfWorkDep, response: Response, actor: Actor,
                               body: ApprovalDecision | None = None, admin: AsAdmin = False) -> RequestPublic:
    request, _ = await retrying(lambda: handlers.decide_approval(
        uow, approval_id, actor=actor, approve=True, comment=body.comment if body else "", admin=admin))
    return answer(response, RequestPublic, request)


@router.post("/approvals/{approval_id}/reject", response_model=RequestPublic,
             summary="Reject (one of those asked, or an admin): the item is rejected")
async def reject_request_item(approval_id: Ident, uow: UnitOfWorkDep, response: Response, actor: Actor,
                              body: ApprovalDecision | None = None, admin: AsAdmin = False) -> RequestPublic:
    request, _ = await retrying(lambda: handlers.decide_approval(
        uow, approval_id, actor=actor, approve=False, comment=body.comment if body else "", admin=admin))
    return answer(response, RequestPublic, request)


# -- tasks ----------------------------------------------------------------------------------------------------------

@router.get("/tasks", response_model=TaskPage, summary="Tasks of every record, newest first (filters, cursor pages)")
async def list_tasks(uow: UnitOfWorkDep, query: Annotated[TaskQuery, Query()]) -> TaskPage:
    found, next_cursor = await task_handlers.list_tasks(uow, **query.model_dump())
    return TaskPage(items=[TaskPublic.model_validate(t, from_attributes=True) for t in found],
                    next_cursor=next_cursor)


@router.get("/tasks/{task_id}", response_model=TaskPublic, summary="A task (its version = ETag)")
async def get_task(task_id: Ident, uow: UnitOfWorkDep, response: Response) -> TaskPublic:
    return answer(response, TaskPublic, await task_handlers.get_task(uow, task_id))


@router.post("/tasks/{task_id}/assign", response_model=TaskPublic, summary="Give a task to a group and person")
async def assign_task(task_id: Ident, body: TaskAssign, uow: UnitOfWorkDep, response: Response, actor: Actor,
                      if_match: IfMatch) -> TaskPublic:
    task = await retrying(lambda: task_handlers.assign_task(
        uow, task_id, group=body.assignment_group, assignee=body.assignee, actor=actor, if_match=if_match))
    return answer(response, TaskPublic, task)


@router.post("/tasks/{task_id}/state", response_model=TaskPublic,
             summary="Move a task (open, in_progress, done, incomplete, canceled)")
async def change_task_state(task_id: Ident, body: TaskMove, uow: UnitOfWorkDep, response: Response, actor: Actor,
                            if_match: IfMatch) -> TaskPublic:
    task = await retrying(lambda: task_handlers.move_task(uow, task_id, state=TaskState(body.state), actor=actor,
                                                          if_match=if_match))
    return answer(response, TaskPublic, task)
