"""The problems HTTP API (internal; clients reach it through the gateway)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from itsm_contracts.api.problems import ProblemCreate, ProblemPage, ProblemPublic
from itsm_kit.api import Ident, PageSize, answer
from itsm_kit.runtime import UnitOfWorkDep
from itsm_problems import handlers

router = APIRouter(prefix="/problems", tags=["problems"])


@router.post("", response_model=ProblemPublic, status_code=201, summary="Open a problem")
async def open_problem(body: ProblemCreate, uow: UnitOfWorkDep, response: Response) -> ProblemPublic:
    problem = await handlers.open_problem(uow, **body.model_dump())
    response.headers["Location"] = f"{router.prefix}/{problem.id}"
    return answer(response, ProblemPublic, problem)


@router.get("/{problem_id}", response_model=ProblemPublic)
async def get_problem(problem_id: Ident, uow: UnitOfWorkDep, response: Response) -> ProblemPublic:
    return answer(response, ProblemPublic, await handlers.get_problem(uow, problem_id))


@router.get("", response_model=ProblemPage, summary="List problems, newest first")
async def list_problems(uow: UnitOfWorkDep, cursor: str | None = None, limit: PageSize = 50) -> ProblemPage:
    items, next_cursor = await handlers.list_problems(uow, limit=limit, cursor=cursor)
    return ProblemPage(items=[ProblemPublic.model_validate(p, from_attributes=True) for p in items],
                      next_cursor=next_cursor)
