"""Use cases: open the problem, store it with its events."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from itsm_kit.outbox import Outbox
from itsm_problems.domain import Problem
from itsm_problems.store import ProblemRepository


async def open_problem(session: AsyncSession, outbox: Outbox, *, short_description: str, description: str,
                       impact: int, urgency: int) -> Problem:
    repo = ProblemRepository(session)
    problem = Problem.open(
        id=str(uuid.uuid4()), number=await repo.next_number(), short_description=short_description,
        description=description, impact=impact, urgency=urgency, at=datetime.now(UTC),
    )
    await repo.add(problem)
    await outbox.add_raised(session, problem.id, problem.events)
    return problem
