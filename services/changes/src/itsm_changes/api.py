"""The changes HTTP API (internal; clients reach it through the gateway)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from itsm_contracts.api.changes import ChangeCreate, ChangePage, ChangePublic
from itsm_kit.errors import Problem, not_found
from itsm_kit.pagination import decode_cursor, encode_cursor
from itsm_kit.runtime import RuntimeDep, SessionDep
from itsm_changes import handlers
from itsm_changes.domain import ChangeRequest, DomainError, InvalidTransition
from itsm_changes.store import ChangeRepository

router = APIRouter(prefix="/changes", tags=["changes"])


def public(change: ChangeRequest) -> ChangePublic:
    return ChangePublic.model_validate(change, from_attributes=True)


def _answer(change: ChangeRequest, response: Response) -> ChangePublic:
    response.headers["ETag"] = f'"{change.version}"'
    return public(change)


def _domain_problem(exc: DomainError) -> Problem:
    if isinstance(exc, InvalidTransition):
        return Problem(409, "Conflict", str(exc), current_state=exc.current, allowed_states=exc.allowed)
    return Problem(422, "Unprocessable Content", str(exc))


@router.get("", response_model=ChangePage, summary="List change requests, newest first")
async def list_changes(session: SessionDep, cursor: str | None = None,
                       limit: Annotated[int, Query(ge=1, le=200)] = 50) -> ChangePage:
    items = await ChangeRepository(session).page(limit=limit + 1, after=decode_cursor(cursor) if cursor else None)
    last = items[limit - 1] if len(items) > limit else None
    return ChangePage(items=[public(c) for c in items[:limit]],
                      next_cursor=encode_cursor(last.requested_at, last.id) if last else None)


@router.get("/{change_id}", response_model=ChangePublic)
async def get_change(change_id: str, session: SessionDep, response: Response) -> ChangePublic:
    change = await ChangeRepository(session).get(change_id)
    if change is None:
        raise not_found("change request", change_id)
    return _answer(change, response)


@router.post("", response_model=ChangePublic, status_code=201, summary="Request a change")
async def request_change(body: ChangeCreate, runtime: RuntimeDep, response: Response) -> ChangePublic:
    try:
        async with runtime.transaction() as session:
            change = await handlers.request_change(session, runtime.outbox, **body.model_dump())
    except DomainError as exc:
        raise _domain_problem(exc) from exc
    response.headers["Location"] = f"{router.prefix}/{change.id}"
    return _answer(change, response)
