"""requests through the gateway (issue 17): thin pass-throughs to the requests service, roles checked here.

A requester sees only the requests they ordered or that are for them: their list is narrowed to those (`involving`,
set here whatever they sent), and another's request, timeline or cancel is a 404 exactly like the one for an unknown
id (as for incidents, itsm_gateway.access). A requester orders for themselves (requested_for is replaced by them);
agents may order for someone. The approvals inbox is the caller's; an admin's decision is passed on as an admin's
(`admin=true`, set only here), which decides for the approvers. Tasks are the desk's: agents and up.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from itsm_contracts.api.requests import (
    ApprovalDecision, ApprovalPage, RequestActivityPage, RequestCancel, RequestCreate, RequestPage, RequestPublic,
    RequestQuery, TaskAssign, TaskMove, TaskPage, TaskPublic, TaskQuery,
)
from itsm_kit.api import Ident, IfMatchHeader, PageSize
from itsm_kit.errors import not_found
from itsm_kit.runtime import Runtime, RuntimeDep
from itsm_gateway.auth import AgentUser, RequesterUser, RoleRoute, User, works
from itsm_gateway.upstream import Passage, call

router = APIRouter(tags=["requests"], route_class=RoleRoute)
requests_service = Passage("requests", "/api/v1")
INVOLVING = "involving"  # the requests service's filter: ordered by or for this person


def _is_admin(user: User) -> bool:
    return "admin" in user.roles


async def _readable_request(runtime: Runtime, user: User, request_id: str) -> Any:
    """The requests service's answer for a request the user may see; the same 404 as for an unknown id if not."""
    upstream = await call(runtime, "requests", "GET", f"/requests/{request_id}", actor=user)
    body = upstream.json()
    if not works(user) and user.id not in (body.get("requested_by"), body.get("requested_for")):
        raise not_found("request", request_id)
    return upstream


@router.post("/requests", response_model=RequestPublic, status_code=201,
             summary="Order one or more catalogue items",
             description="Each item must be one the caller may order; its answers are checked against the item's "
                         "current form: one 422 names every bad field of every item (`errors`: item, field, "
                         "message), and nothing is written. A requester orders for themselves.")
async def submit_request(body: RequestCreate, runtime: RuntimeDep, user: RequesterUser, response: Response) -> dict:
    if not works(user):
        body = body.model_copy(update={"requested_for": user.id})
    return await requests_service.send(runtime, response, "POST", "/requests", body, actor=user)


@router.get("/requests", response_model=RequestPage,
            summary="Requests, newest first: by state, who ordered, who for (a requester's: their own)")
async def list_requests(request: Request, runtime: RuntimeDep, user: RequesterUser,
                        query: Annotated[RequestQuery, Query()]) -> dict:
    params = request.query_params.multi_items()
    if not works(user):
        params = [(name, value) for name, value in params if name != INVOLVING] + [(INVOLVING, user.id)]
    return await requests_service.read(runtime, request, "/requests", params=params)


@router.get("/requests/{request_id}", response_model=RequestPublic,
            summary="A request with its items, approvals and tasks (version = ETag)",
            description="A requester's own requests only (ordered by or for them): another's is a 404.")
async def get_request(request_id: Ident, runtime: RuntimeDep, user: RequesterUser, response: Response) -> dict:
    return requests_service.relay(await _readable_request(runtime, user, request_id), response)


@router.post("/requests/{request_id}/cancel", response_model=RequestPublic,
             summary="Cancel a request: its unfinished items, their open approvals and tasks",
             description="A requester cancels their own requests; agents any.")
async def cancel_request(request_id: Ident, runtime: RuntimeDep, user: RequesterUser, response: Response,
                         body: RequestCancel | None = None, if_match: IfMatchHeader = None) -> dict:
    await _readable_request(runtime, user, request_id)
    return await requests_service.send(runtime, response, "POST", f"/requests/{request_id}/cancel",
                                       body or RequestCancel(), actor=user, if_match=if_match)


@router.get("/requests/{request_id}/activity", response_model=RequestActivityPage,
            summary="The request's timeline, newest first: every step of its items' flows",
            description="A requester's own requests only: another's is a 404.")
async def list_request_activity(request_id: Ident, request: Request, runtime: RuntimeDep, user: RequesterUser,
                                cursor: str | None = None, limit: PageSize = 50) -> dict:
    await _readable_request(runtime, user, request_id)
    return await requests_service.read(runtime, request, f"/requests/{request_id}/activity")


# -- approvals ------------------------------------------------------------------------------------------------------

@router.get("/approvals", response_model=ApprovalPage,
            summary="The approvals waiting for my decision (an admin's: those with nobody to ask too)")
async def list_my_approvals(request: Request, runtime: RuntimeDep, user: RequesterUser, cursor: str | None = None,
                            limit: PageSize = 50) -> dict:
    params = [("limit", str(limit))] + ([("cursor", cursor)] if cursor else [])
    if _is_admin(user):
        params.append(("include_unassigned", "true"))
    return await requests_service.read(runtime, request, "/approvals", params=params)


async def _decide(runtime: Runtime, user: User, response: Response, approval_id: str, verb: str,
                  body: ApprovalDecision | None) -> Any:
    upstream = await call(runtime, "requests", "POST", f"/approvals/{approval_id}/{verb}", actor=user,
                          params={"admin": "true"} if _is_admin(user) else None,
                          json=(body or ApprovalDecision()).model_dump(mode="json"))
    return requests_service.relay(upstream, response)


@router.post("/approvals/{approval_id}/approve", response_model=RequestPublic,
             summary="Approve a requested item (those asked, or an admin): it moves on by the stage's rule",
             description="403 for someone who was not asked. Answers the request as it is after the decision.")
async def approve_request_item(approval_id: Ident, runtime: RuntimeDep, user: RequesterUser, response: Response,
                               body: ApprovalDecision | None = None) -> dict:
    return await _decide(runtime, user, response, approval_id, "approve", body)


@router.post("/approvals/{approval_id}/reject", response_model=RequestPublic,
             summary="Reject a requested item (those asked, or an admin): the item is rejected",
             description="403 for someone who was not asked. Answers the request as it is after the decision.")
async def reject_request_item(approval_id: Ident, runtime: RuntimeDep, user: RequesterUser, response: Response,
                              body: ApprovalDecision | None = None) -> dict:
    return await _decide(runtime, user, response, approval_id, "reject", body)


# -- tasks ----------------------------------------------------------------------------------------------------------

@router.get("/tasks", response_model=TaskPage,
            summary="Tasks of requested items, incidents, changes and requests (filters, cursor pages)")
async def list_tasks(request: Request, runtime: RuntimeDep, user: AgentUser,
                     query: Annotated[TaskQuery, Query()]) -> dict:
    return await requests_service.read(runtime, request, "/tasks")


@router.get("/tasks/{task_id}", response_model=TaskPublic, summary="A task (version = ETag)")
async def get_task(task_id: Ident, request: Request, runtime: RuntimeDep, user: AgentUser, response: Response) -> dict:
    return await requests_service.read(runtime, request, f"/tasks/{task_id}", response)


@router.post("/tasks/{task_id}/assign", response_model=TaskPublic, summary="Give a task to a group and person")
async def assign_task(task_id: Ident, body: TaskAssign, runtime: RuntimeDep, user: AgentUser, response: Response,
                      if_match: IfMatchHeader = None) -> dict:
    return await requests_service.send(runtime, response, "POST", f"/tasks/{task_id}/assign", body, actor=user,
                                       if_match=if_match)


@router.post("/tasks/{task_id}/state", response_model=TaskPublic,
             summary="Move a task: open, in_progress, done, incomplete (closes its item incomplete), canceled")
async def change_task_state(task_id: Ident, body: TaskMove, runtime: RuntimeDep, user: AgentUser, response: Response,
                            if_match: IfMatchHeader = None) -> dict:
    return await requests_service.send(runtime, response, "POST", f"/tasks/{task_id}/state", body, actor=user,
                                       if_match=if_match)
