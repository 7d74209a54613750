"""The cmdb HTTP API (internal; clients reach it through the gateway)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from itsm_contracts.api.cmdb import CiCreate, CiPage, CiPublic
from itsm_kit.errors import Problem, not_found
from itsm_kit.pagination import decode_cursor, encode_cursor
from itsm_kit.runtime import RuntimeDep, SessionDep
from itsm_cmdb import handlers
from itsm_cmdb.domain import CiClass, ConfigurationItem, DomainError, DuplicateCi
from itsm_cmdb.store import CiRepository

router = APIRouter(prefix="/cis", tags=["cmdb"])


def public(ci: ConfigurationItem) -> CiPublic:
    return CiPublic.model_validate(ci, from_attributes=True)


def _answer(ci: ConfigurationItem, response: Response) -> CiPublic:
    response.headers["ETag"] = f'"{ci.version}"'
    return public(ci)


def _domain_problem(exc: DomainError) -> Problem:
    if isinstance(exc, DuplicateCi):
        return Problem(409, "Conflict", str(exc), existing_id=exc.existing_id)
    return Problem(422, "Unprocessable Content", str(exc))


@router.get("", response_model=CiPage, summary="List configuration items, newest first")
async def list_cis(session: SessionDep, cursor: str | None = None, limit: Annotated[int, Query(ge=1, le=200)] = 50,
                   ci_class: Annotated[list[CiClass] | None, Query()] = None) -> CiPage:
    items = await CiRepository(session).page(limit=limit + 1, after=decode_cursor(cursor) if cursor else None,
                                             classes=[c.value for c in ci_class] if ci_class else None)
    last = items[limit - 1] if len(items) > limit else None
    return CiPage(items=[public(ci) for ci in items[:limit]],
                  next_cursor=encode_cursor(last.created_at, last.id) if last else None)


@router.get("/{ci_id}", response_model=CiPublic)
async def get_ci(ci_id: str, session: SessionDep, response: Response) -> CiPublic:
    ci = await CiRepository(session).get(ci_id)
    if ci is None:
        raise not_found("configuration item", ci_id)
    return _answer(ci, response)


@router.post("", response_model=CiPublic, status_code=201, summary="Register a configuration item")
async def register_ci(body: CiCreate, runtime: RuntimeDep, response: Response) -> CiPublic:
    try:
        async with runtime.transaction() as session:
            ci = await handlers.register_ci(session, runtime.outbox, **body.model_dump())
    except DomainError as exc:
        raise _domain_problem(exc) from exc
    response.headers["Location"] = f"{router.prefix}/{ci.id}"
    return _answer(ci, response)
