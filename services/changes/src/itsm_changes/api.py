"""The changes HTTP API (internal; clients reach it through the gateway)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from itsm_contracts.api.changes import ChangeCreate, ChangePage, ChangePublic
from itsm_kit.errors import not_found
from itsm_kit.runtime import RuntimeDep, SessionDep
from itsm_changes import handlers
from itsm_changes.domain import ChangeRequest
from itsm_changes.store import ChangeRepository

router = APIRouter(prefix="/changes", tags=["changes"])


def public(change: ChangeRequest) -> ChangePublic:
    return ChangePublic.model_validate(change, from_attributes=True)


def _answer(change: ChangeRequest, response: Response) -> ChangePublic:
    response.headers["ETag"] = f'"{change.version}"'
    return public(change)


@router.get("", response_model=ChangePage, summary="List change requests, newest first")
async def list_changes(session: SessionDep, cursor: str | None = None,
                       limit: Annotated[int, Query(ge=1, le=200)] = 50) -> ChangePage:
    items, next_cursor = await ChangeRepository(session).page(limit=limit, cursor=cursor)
    return ChangePage(items=[public(c) for c in items], next_cursor=next_cursor)


@router.get("/{change_id}", response_model=ChangePublic)
async def get_change(change_id: str, session: SessionDep, response: Response) -> ChangePublic:
    change = await ChangeRepository(session).get(change_id)
    if change is None:
        raise not_found("change request", change_id)
    return _answer(change, response)


@router.post("", response_model=ChangePublic, status_code=201, summary="Request a change")
async def request_change(body: ChangeCreate, runtime: RuntimeDep, response: Response) -> ChangePublic:
    async with runtime.transaction() as session:
        change = await handlers.request_change(session, runtime.outbox, **body.model_dump())
    response.headers["Location"] = f"{router.prefix}/{change.id}"
    return _answer(change, response)
