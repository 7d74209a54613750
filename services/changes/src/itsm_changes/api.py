"""The changes HTTP API (internal; clients reach it through the gateway).

Only calls the gateway signed get in (itsm_kit.internal_auth); who acts is the signature's subject,
the caller's JWT subject.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from itsm_contracts.api.changes import (
    ChangeCreate, ChangeDecision, ChangeMove, ChangePage, ChangePublic, ChangeQuery, ChangeUpdate,
)
from itsm_kit.api import Actor, Ident, IfMatch, answer
from itsm_kit.runtime import UnitOfWorkDep
from itsm_changes import handlers
from itsm_changes.domain import State

router = APIRouter(prefix="/changes", tags=["changes"])


@router.post("", response_model=ChangePublic, status_code=201, summary="Request a change")
async def request_change(body: ChangeCreate, uow: UnitOfWorkDep, response: Response, actor: Actor) -> ChangePublic:
    change = await handlers.request_change(uow, requested_by=actor, **body.model_dump())
    response.headers["Location"] = f"{router.prefix}/{change.id}"
    return answer(response, ChangePublic, change)


@router.get("/{change_id}", response_model=ChangePublic)
async def get_change(change_id: Ident, uow: UnitOfWorkDep, response: Response) -> ChangePublic:
    return answer(response, ChangePublic, await handlers.get_change(uow, change_id))


@router.get("", response_model=ChangePage, summary="List change requests, newest first (filters, cursor pagination)")
async def list_changes(uow: UnitOfWorkDep, query: Annotated[ChangeQuery, Query()]) -> ChangePage:
    items, next_cursor = await handlers.list_changes(uow, **query.model_dump())
    return ChangePage(items=[ChangePublic.model_validate(c, from_attributes=True) for c in items],
                      next_cursor=next_cursor)


@router.patch("/{change_id}", response_model=ChangePublic, summary="Change fields of a change request")
async def update_change(change_id: Ident, body: ChangeUpdate, uow: UnitOfWorkDep, response: Response,
                        if_match: IfMatch, actor: Actor) -> ChangePublic:
    change = await handlers.update_change(uow, change_id, body.changes(), actor=actor, if_match=if_match)
    return answer(response, ChangePublic, change)


@router.post("/{change_id}/state", response_model=ChangePublic,
             summary="Move a change along its type's path (into authorize submits it for approval)")
async def move_change(change_id: Ident, body: ChangeMove, uow: UnitOfWorkDep, response: Response,
                      if_match: IfMatch, actor: Actor) -> ChangePublic:
    change = await handlers.move_change(uow, change_id, state=State(body.state), reason=body.reason, actor=actor,
                                        if_match=if_match)
    return answer(response, ChangePublic, change)


@router.post("/{change_id}/approvals", response_model=ChangePublic,
             summary="Approve (schedules it) or reject (back to new) a change awaiting authorization")
async def decide_change(change_id: Ident, body: ChangeDecision, uow: UnitOfWorkDep, response: Response,
                        if_match: IfMatch, actor: Actor) -> ChangePublic:
    change = await handlers.decide_change(uow, change_id, decision=body.decision, comment=body.comment, actor=actor,
                                          if_match=if_match)
    return answer(response, ChangePublic, change)
