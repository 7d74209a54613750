"""Use cases: open a problem (stored with its events), and read problems."""

from __future__ import annotations

import uuid

from itsm_kit.clock import utcnow
from itsm_kit.errors import found
from itsm_kit.unit_of_work import UnitOfWork
from itsm_problems.domain import Problem
from itsm_problems.store import ProblemRepository


async def open_problem(uow: UnitOfWork, *, short_description: str, description: str, impact: int,
                       urgency: int) -> Problem:
    async with uow:
        repo = ProblemRepository(uow.session)
        problem = Problem.open(
            id=str(uuid.uuid4()), number=await repo.next_number(), short_description=short_description,
            description=description, impact=impact, urgency=urgency, at=utcnow(),
        )
        await repo.add(problem)
        uow.add(problem)
        await uow.commit()
    return problem


async def get_problem(uow: UnitOfWork, problem_id: str) -> Problem:
    async with uow:
        return found(await ProblemRepository(uow.session).get(problem_id), "problem", problem_id)


async def list_problems(uow: UnitOfWork, *, limit: int, cursor: str | None) -> tuple[list[Problem], str | None]:
    """Newest first; the page and the next page's cursor."""
    async with uow:
        return await ProblemRepository(uow.session).page(limit=limit, cursor=cursor)
