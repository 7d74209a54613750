"""Use cases: open a problem, edit it, move it, its root cause, resolution, links and notes (each stored with its
events and timeline lines); read problems and their timelines."""

from __future__ import annotations

import uuid
from typing import Any

from itsm_kit.clock import utcnow
from itsm_kit.domain import SYSTEM
from itsm_kit.errors import found
from itsm_kit.records import apply
from itsm_kit.unit_of_work import UnitOfWork
from itsm_problems.domain import Problem, State
from itsm_problems.store import ProblemRepository


async def open_problem(uow: UnitOfWork, *, short_description: str, description: str, impact: int,
                       urgency: int, opened_by: str = SYSTEM, assignee: str | None = None,
                       assignment_group: str | None = None, related_incidents: list[str] | None = None) -> Problem:
    async with uow:
        repo = ProblemRepository(uow.session)
        problem = Problem.open(
            id=str(uuid.uuid4()), number=await repo.next_number(), short_description=short_description,
            description=description, impact=impact, urgency=urgency, at=utcnow(), opened_by=opened_by,
            assignee=assignee, assignment_group=assignment_group, related_incidents=related_incidents or [],
        )
        await repo.add(problem)
        uow.add(problem)
        await uow.commit()
    return problem


async def update_problem(uow: UnitOfWork, problem_id: str, changes: dict[str, Any], *, actor: str = SYSTEM,
                         if_match: int | None = None) -> Problem:
    return await apply(uow, ProblemRepository, problem_id, if_match,
                       lambda problem: problem.update(changes, utcnow(), actor=actor))


async def move_problem(uow: UnitOfWork, problem_id: str, *, state: State, actor: str = SYSTEM,
                       if_match: int | None = None) -> Problem:
    return await apply(uow, ProblemRepository, problem_id, if_match,
                       lambda problem: problem.move_to(state, utcnow(), actor=actor))


async def identify_root_cause(uow: UnitOfWork, problem_id: str, *, description: str, cause_code: str,
                              actor: str = SYSTEM, if_match: int | None = None) -> Problem:
    return await apply(uow, ProblemRepository, problem_id, if_match,
                       lambda problem: problem.identify_root_cause(description, cause_code, utcnow(), actor=actor))


async def resolve_problem(uow: UnitOfWork, problem_id: str, *, resolution_code: str, notes: str,
                          resolve_linked_incidents: bool = False, actor: str = SYSTEM,
                          if_match: int | None = None) -> Problem:
    return await apply(uow, ProblemRepository, problem_id, if_match, lambda problem: problem.resolve(
        resolution_code, notes, utcnow(), resolve_linked_incidents=resolve_linked_incidents, actor=actor))


async def close_problem(uow: UnitOfWork, problem_id: str, *, actor: str = SYSTEM,
                        if_match: int | None = None) -> Problem:
    return await apply(uow, ProblemRepository, problem_id, if_match,
                       lambda problem: problem.close(utcnow(), actor=actor))


async def link_incident(uow: UnitOfWork, problem_id: str, incident_id: str, *, actor: str = SYSTEM,
                        if_match: int | None = None) -> Problem:
    return await apply(uow, ProblemRepository, problem_id, if_match,
                       lambda problem: problem.link_incident(incident_id, utcnow(), actor=actor))


async def unlink_incident(uow: UnitOfWork, problem_id: str, incident_id: str, *, actor: str = SYSTEM,
                          if_match: int | None = None) -> Problem:
    return await apply(uow, ProblemRepository, problem_id, if_match,
                       lambda problem: problem.unlink_incident(incident_id, utcnow(), actor=actor))


async def add_comment(uow: UnitOfWork, problem_id: str, *, text: str, actor: str = SYSTEM) -> Problem:
    return await apply(uow, ProblemRepository, problem_id, None,
                       lambda problem: problem.comment(text, utcnow(), actor=actor))


async def add_work_note(uow: UnitOfWork, problem_id: str, *, text: str, actor: str = SYSTEM) -> Problem:
    return await apply(uow, ProblemRepository, problem_id, None,
                       lambda problem: problem.add_work_note(text, utcnow(), actor=actor))


async def activity(uow: UnitOfWork, problem_id: str, *, limit: int, cursor: str | None
                   ) -> tuple[list[dict], str | None]:
    """The problem's timeline, newest first; a 404 for a problem that does not exist."""
    async with uow:
        repo = ProblemRepository(uow.session)
        found(await repo.get(problem_id), "problem", problem_id)
        return await repo.activity(problem_id, limit=limit, cursor=cursor)


async def get_problem(uow: UnitOfWork, problem_id: str) -> Problem:
    async with uow:
        return found(await ProblemRepository(uow.session).get(problem_id), "problem", problem_id)


async def list_problems(uow: UnitOfWork, *, limit: int, cursor: str | None,
                        **where: Any) -> tuple[list[Problem], str | None]:
    """Newest first, filtered by `where` (ProblemRepository.page's filters); the page and the next page's cursor."""
    async with uow:
        return await ProblemRepository(uow.session).page(limit=limit, cursor=cursor, **where)
