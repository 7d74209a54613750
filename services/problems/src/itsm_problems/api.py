"""The problems HTTP API (internal; clients reach it through the gateway)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from itsm_contracts.api.problems import ProblemCreate, ProblemPage, ProblemPublic
from itsm_kit.api import tag
from itsm_kit.runtime import UnitOfWorkDep
from itsm_problems import handlers
from itsm_problems.domain import Problem

router = APIRouter(prefix="/problems", tags=["problems"])


def public(problem: Problem) -> ProblemPublic:
    return ProblemPublic.model_validate(problem, from_attributes=True)


def _answer(problem: Problem, response: Response) -> ProblemPublic:
    tag(response, problem.version)
    return public(problem)


@router.get("", response_model=ProblemPage, summary="List problems, newest first")
async def list_problems(uow: UnitOfWorkDep, cursor: str | None = None,
                        limit: Annotated[int, Query(ge=1, le=200)] = 50) -> ProblemPage:
    items, next_cursor = await handlers.list_problems(uow, limit=limit, cursor=cursor)
    return ProblemPage(items=[public(p) for p in items], next_cursor=next_cursor)


@router.get("/{problem_id}", response_model=ProblemPublic)
async def get_problem(problem_id: str, uow: UnitOfWorkDep, response: Response) -> ProblemPublic:
    return _answer(await handlers.get_problem(uow, problem_id), response)


@router.post("", response_model=ProblemPublic, status_code=201, summary="Open a problem")
async def open_problem(body: ProblemCreate, uow: UnitOfWorkDep, response: Response) -> ProblemPublic:
    problem = await handlers.open_problem(uow, **body.model_dump())
    response.headers["Location"] = f"{router.prefix}/{problem.id}"
    return _answer(problem, response)
