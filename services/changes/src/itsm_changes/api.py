"""The changes HTTP API (internal; clients reach it through the gateway)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from itsm_contracts.api.changes import ChangeCreate, ChangePage, ChangePublic
from itsm_kit.api import tag
from itsm_kit.runtime import UnitOfWorkDep
from itsm_changes import handlers
from itsm_changes.domain import ChangeRequest

router = APIRouter(prefix="/changes", tags=["changes"])


def public(change: ChangeRequest) -> ChangePublic:
    return ChangePublic.model_validate(change, from_attributes=True)


def _answer(change: ChangeRequest, response: Response) -> ChangePublic:
    tag(response, change.version)
    return public(change)


@router.get("", response_model=ChangePage, summary="List change requests, newest first")
async def list_changes(uow: UnitOfWorkDep, cursor: str | None = None,
                       limit: Annotated[int, Query(ge=1, le=200)] = 50) -> ChangePage:
    items, next_cursor = await handlers.list_changes(uow, limit=limit, cursor=cursor)
    return ChangePage(items=[public(c) for c in items], next_cursor=next_cursor)


@router.get("/{change_id}", response_model=ChangePublic)
async def get_change(change_id: str, uow: UnitOfWorkDep, response: Response) -> ChangePublic:
    return _answer(await handlers.get_change(uow, change_id), response)


@router.post("", response_model=ChangePublic, status_code=201, summary="Request a change")
async def request_change(body: ChangeCreate, uow: UnitOfWorkDep, response: Response) -> ChangePublic:
    change = await handlers.request_change(uow, **body.model_dump())
    response.headers["Location"] = f"{router.prefix}/{change.id}"
    return _answer(change, response)
