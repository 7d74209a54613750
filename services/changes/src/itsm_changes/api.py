"""The changes HTTP API (internal; clients reach it through the gateway)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from itsm_contracts.api.changes import ChangeCreate, ChangePage, ChangePublic
from itsm_kit.api import Ident, PageSize, answer
from itsm_kit.runtime import UnitOfWorkDep
from itsm_changes import handlers

router = APIRouter(prefix="/changes", tags=["changes"])


@router.post("", response_model=ChangePublic, status_code=201, summary="Request a change")
async def request_change(body: ChangeCreate, uow: UnitOfWorkDep, response: Response) -> ChangePublic:
    change = await handlers.request_change(uow, **body.model_dump())
    response.headers["Location"] = f"{router.prefix}/{change.id}"
    return answer(response, ChangePublic, change)


@router.get("/{change_id}", response_model=ChangePublic)
async def get_change(change_id: Ident, uow: UnitOfWorkDep, response: Response) -> ChangePublic:
    return answer(response, ChangePublic, await handlers.get_change(uow, change_id))


@router.get("", response_model=ChangePage, summary="List change requests, newest first")
async def list_changes(uow: UnitOfWorkDep, cursor: str | None = None, limit: PageSize = 50) -> ChangePage:
    items, next_cursor = await handlers.list_changes(uow, limit=limit, cursor=cursor)
    return ChangePage(items=[ChangePublic.model_validate(c, from_attributes=True) for c in items],
                      next_cursor=next_cursor)
