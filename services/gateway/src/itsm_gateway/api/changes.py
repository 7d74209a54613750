"""Change requests for frontends: the changes service's records, typed.

Every write upstream names who acts (the JWT subject) in the gateway's signature; the changes
service takes no call the gateway did not sign.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from itsm_contracts.api.changes import ChangeCreate, ChangePage, ChangePublic
from itsm_kit.api import Ident, PageSize
from itsm_kit.runtime import RuntimeDep
from itsm_gateway.auth import AgentUser, RoleRoute
from itsm_gateway.upstream import Passage

router = APIRouter(prefix="/changes", tags=["changes"], route_class=RoleRoute)
changes = Passage("changes", "/api/v1")


@router.post("", response_model=ChangePublic, status_code=201,
             summary="Request a change (standard, normal or emergency; planned_end after planned_start)")
async def request_change(body: ChangeCreate, runtime: RuntimeDep, user: AgentUser, response: Response) -> dict:
    return await changes.send(runtime, response, "POST", "/changes", body, actor=user.id)


@router.get("", response_model=ChangePage, summary="List change requests, newest first (cursor pagination)")
async def list_changes(request: Request, runtime: RuntimeDep, user: AgentUser,
                       cursor: Annotated[str | None, Query(description="`next_cursor` of the page before")] = None,
                       limit: PageSize = 50) -> dict:
    return await changes.read(runtime, request, "/changes")


@router.get("/{change_id}", response_model=ChangePublic, summary="A change request (its version is the ETag)")
async def get_change(change_id: Ident, request: Request, runtime: RuntimeDep, user: AgentUser,
                     response: Response) -> dict:
    return await changes.read(runtime, request, f"/changes/{change_id}", response)
