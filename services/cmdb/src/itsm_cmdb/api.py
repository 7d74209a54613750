"""The cmdb HTTP API (internal; clients reach it through the gateway)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from itsm_contracts.api.cmdb import CiCreate, CiPage, CiPublic
from itsm_kit.errors import not_found
from itsm_kit.runtime import RuntimeDep, SessionDep
from itsm_cmdb import handlers
from itsm_cmdb.domain import CiClass, ConfigurationItem
from itsm_cmdb.store import CiRepository

router = APIRouter(prefix="/cis", tags=["cmdb"])


def public(ci: ConfigurationItem) -> CiPublic:
    return CiPublic.model_validate(ci, from_attributes=True)


def _answer(ci: ConfigurationItem, response: Response) -> CiPublic:
    response.headers["ETag"] = f'"{ci.version}"'
    return public(ci)


@router.get("", response_model=CiPage, summary="List configuration items, newest first")
async def list_cis(session: SessionDep, cursor: str | None = None, limit: Annotated[int, Query(ge=1, le=200)] = 50,
                   ci_class: Annotated[list[CiClass] | None, Query()] = None) -> CiPage:
    items, next_cursor = await CiRepository(session).page(limit=limit, cursor=cursor,
                                                          classes=[c.value for c in ci_class] if ci_class else None)
    return CiPage(items=[public(ci) for ci in items], next_cursor=next_cursor)


@router.get("/{ci_id}", response_model=CiPublic)
async def get_ci(ci_id: str, session: SessionDep, response: Response) -> CiPublic:
    ci = await CiRepository(session).get(ci_id)
    if ci is None:
        raise not_found("configuration item", ci_id)
    return _answer(ci, response)


@router.post("", response_model=CiPublic, status_code=201, summary="Register a configuration item")
async def register_ci(body: CiCreate, runtime: RuntimeDep, response: Response) -> CiPublic:
    async with runtime.transaction() as session:
        ci = await handlers.register_ci(session, runtime.outbox, **body.model_dump())
    response.headers["Location"] = f"{router.prefix}/{ci.id}"
    return _answer(ci, response)
