"""The problems HTTP API (internal; clients reach it through the gateway).

Only calls the gateway signed get in (itsm_kit.internal_auth); who acts is the signature's subject,
the caller's JWT subject.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from itsm_contracts.api.problems import (
    ProblemCreate, ProblemMove, ProblemPage, ProblemPublic, ProblemQuery, ProblemUpdate,
)
from itsm_kit.api import Actor, Ident, IfMatch, answer
from itsm_kit.runtime import UnitOfWorkDep
from itsm_problems import handlers
from itsm_problems.domain import State

router = APIRouter(prefix="/problems", tags=["problems"])


@router.post("", response_model=ProblemPublic, status_code=201, summary="Open a problem")
async def open_problem(body: ProblemCreate, uow: UnitOfWorkDep, response: Response, actor: Actor) -> ProblemPublic:
    problem = await handlers.open_problem(uow, opened_by=actor, **body.model_dump())
    response.headers["Location"] = f"{router.prefix}/{problem.id}"
    return answer(response, ProblemPublic, problem)


@router.get("/{problem_id}", response_model=ProblemPublic)
async def get_problem(problem_id: Ident, uow: UnitOfWorkDep, response: Response) -> ProblemPublic:
    return answer(response, ProblemPublic, await handlers.get_problem(uow, problem_id))


@router.get("", response_model=ProblemPage, summary="List problems, newest first (filters, cursor pagination)")
async def list_problems(uow: UnitOfWorkDep, query: Annotated[ProblemQuery, Query()]) -> ProblemPage:
    items, next_cursor = await handlers.list_problems(uow, **query.model_dump())
    return ProblemPage(items=[ProblemPublic.model_validate(p, from_attributes=True) for p in items],
                       next_cursor=next_cursor)


@router.patch("/{problem_id}", response_model=ProblemPublic, summary="Change fields of a problem")
async def update_problem(problem_id: Ident, body: ProblemUpdate, uow: UnitOfWorkDep, response: Response,
                         if_match: IfMatch, actor: Actor) -> ProblemPublic:
    problem = await handlers.update_problem(uow, problem_id, body.changes(), actor=actor, if_match=if_match)
    return answer(response, ProblemPublic, problem)


@router.post("/{problem_id}/state", response_model=ProblemPublic, summary="Move a problem to another state")
async def move_problem(problem_id: Ident, body: ProblemMove, uow: UnitOfWorkDep, response: Response,
                       if_match: IfMatch, actor: Actor) -> ProblemPublic:
    problem = await handlers.move_problem(uow, problem_id, state=State(body.state), actor=actor, if_match=if_match)
    return answer(response, ProblemPublic, problem)
