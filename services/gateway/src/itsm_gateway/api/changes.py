"""Change requests for frontends: the changes service's records, typed.

Agents request, edit and move changes; only a change manager decides on one awaiting authorization.
Every write upstream names who acts (the JWT subject) in the gateway's signature; the changes
service takes no call the gateway did not sign.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from itsm_contracts.api.changes import (
    ChangeCreate, ChangeDecision, ChangeMove, ChangePage, ChangePublic, ChangeQuery, ChangeUpdate,
)
from itsm_kit.api import Ident, IfMatchHeader
from itsm_kit.runtime import RuntimeDep
from itsm_gateway.auth import AgentUser, ChangeManagerUser, RoleRoute
from itsm_gateway.upstream import Passage

router = APIRouter(prefix="/changes", tags=["changes"], route_class=RoleRoute)
changes = Passage("changes", "/api/v1")


@router.post("", response_model=ChangePublic, status_code=201,
             summary="Request a change (standard, normal or emergency; planned_end after planned_start)")
async def request_change(body: ChangeCreate, runtime: RuntimeDep, user: AgentUser, response: Response) -> dict:
    return await changes.send(runtime, response, "POST", "/changes", body, actor=user)


@router.get("", response_model=ChangePage,
            summary="List change requests, newest first: by state, assignment, affected CI, planned start")
async def list_changes(request: Request, runtime: RuntimeDep, user: AgentUser,
                       query: Annotated[ChangeQuery, Query()]) -> dict:
    return await changes.read(runtime, request, "/changes")


@router.get("/{change_id}", response_model=ChangePublic, summary="A change request (its version is the ETag)")
async def get_change(change_id: Ident, request: Request, runtime: RuntimeDep, user: AgentUser,
                     response: Response) -> dict:
    return await changes.read(runtime, request, f"/changes/{change_id}", response)


@router.patch("/{change_id}", response_model=ChangePublic,
              summary="Change fields: description, planned window, assignment, affected CIs")
async def update_change(change_id: Ident, body: ChangeUpdate, runtime: RuntimeDep, user: AgentUser,
                        response: Response, if_match: IfMatchHeader = None) -> dict:
    return await changes.send(runtime, response, "PATCH", f"/changes/{change_id}", body, actor=user,
                              if_match=if_match)


@router.post("/{change_id}/state", response_model=ChangePublic,
             summary="Move a change along its type's path; into authorize submits it for approval")
async def move_change(change_id: Ident, body: ChangeMove, runtime: RuntimeDep, user: AgentUser,
                      response: Response, if_match: IfMatchHeader = None) -> dict:
    return await changes.send(runtime, response, "POST", f"/changes/{change_id}/state", body, actor=user,
                              if_match=if_match)


@router.post("/{change_id}/approvals", response_model=ChangePublic,
             summary="Approve (it is scheduled) or reject (back to new, with a comment) a change awaiting approval")
async def decide_change(change_id: Ident, body: ChangeDecision, runtime: RuntimeDep, user: ChangeManagerUser,
                        response: Response, if_match: IfMatchHeader = None) -> dict:
    return await changes.send(runtime, response, "POST", f"/changes/{change_id}/approvals", body, actor=user,
                              if_match=if_match)
