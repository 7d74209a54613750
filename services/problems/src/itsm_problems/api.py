"""The problems HTTP API (internal; clients reach it through the gateway)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from itsm_contracts.api.problems import ProblemCreate, ProblemPage, ProblemPublic
from itsm_kit.errors import not_found
from itsm_kit.runtime import RuntimeDep, SessionDep
from itsm_problems import handlers
from itsm_problems.domain import Problem
from itsm_problems.store import ProblemRepository

router = APIRouter(prefix="/problems", tags=["problems"])


def public(problem: Problem) -> ProblemPublic:
    return ProblemPublic.model_validate(problem, from_attributes=True)


def _answer(problem: Problem, response: Response) -> ProblemPublic:
    response.headers["ETag"] = f'"{problem.version}"'
    return public(problem)


@router.get("", response_model=ProblemPage, summary="List problems, newest first")
async def list_problems(session: SessionDep, cursor: str | None = None,
                        limit: Annotated[int, Query(ge=1, le=200)] = 50) -> ProblemPage:
    items, next_cursor = await ProblemRepository(session).page(limit=limit, cursor=cursor)
    return ProblemPage(items=[public(p) for p in items], next_cursor=next_cursor)


@router.get("/{problem_id}", response_model=ProblemPublic)
async def get_problem(problem_id: str, session: SessionDep, response: Response) -> ProblemPublic:
    problem = await ProblemRepository(session).get(problem_id)
    if problem is None:
        raise not_found("problem", problem_id)
    return _answer(problem, response)


@router.post("", response_model=ProblemPublic, status_code=201, summary="Open a problem")
async def open_problem(body: ProblemCreate, runtime: RuntimeDep, response: Response) -> ProblemPublic:
    async with runtime.transaction() as session:
        problem = await handlers.open_problem(session, runtime.outbox, **body.model_dump())
    response.headers["Location"] = f"{router.prefix}/{problem.id}"
    return _answer(problem, response)
