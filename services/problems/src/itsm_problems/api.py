"""The problems HTTP API (internal; clients reach it through the gateway)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from itsm_contracts.api.problems import ProblemCreate, ProblemPage, ProblemPublic
from itsm_kit.errors import Problem as HttpProblem, not_found
from itsm_kit.pagination import decode_cursor, encode_cursor
from itsm_kit.runtime import RuntimeDep, SessionDep
from itsm_problems import handlers
from itsm_problems.domain import DomainError, InvalidTransition, Problem
from itsm_problems.store import ProblemRepository

router = APIRouter(prefix="/problems", tags=["problems"])


def public(problem: Problem) -> ProblemPublic:
    return ProblemPublic.model_validate(problem, from_attributes=True)


def _answer(problem: Problem, response: Response) -> ProblemPublic:
    response.headers["ETag"] = f'"{problem.version}"'
    return public(problem)


def _domain_problem(exc: DomainError) -> HttpProblem:
    if isinstance(exc, InvalidTransition):
        return HttpProblem(409, "Conflict", str(exc), current_state=exc.current, allowed_states=exc.allowed)
    return HttpProblem(422, "Unprocessable Content", str(exc))


@router.get("", response_model=ProblemPage, summary="List problems, newest first")
async def list_problems(session: SessionDep, cursor: str | None = None,
                        limit: Annotated[int, Query(ge=1, le=200)] = 50) -> ProblemPage:
    items = await ProblemRepository(session).page(limit=limit + 1, after=decode_cursor(cursor) if cursor else None)
    last = items[limit - 1] if len(items) > limit else None
    return ProblemPage(items=[public(p) for p in items[:limit]],
                       next_cursor=encode_cursor(last.opened_at, last.id) if last else None)


@router.get("/{problem_id}", response_model=ProblemPublic)
async def get_problem(problem_id: str, session: SessionDep, response: Response) -> ProblemPublic:
    problem = await ProblemRepository(session).get(problem_id)
    if problem is None:
        raise not_found("problem", problem_id)
    return _answer(problem, response)


@router.post("", response_model=ProblemPublic, status_code=201, summary="Open a problem")
async def open_problem(body: ProblemCreate, runtime: RuntimeDep, response: Response) -> ProblemPublic:
    try:
        async with runtime.transaction() as session:
            problem = await handlers.open_problem(session, runtime.outbox, **body.model_dump())
    except DomainError as exc:
        raise _domain_problem(exc) from exc
    response.headers["Location"] = f"{router.prefix}/{problem.id}"
    return _answer(problem, response)
