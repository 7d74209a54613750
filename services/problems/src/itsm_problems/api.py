"""The problems HTTP API (internal; clients reach it through the gateway).

Only calls the gateway signed get in (itsm_kit.internal_auth); who acts is the signature's subject,
the caller's JWT subject.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from itsm_contracts.api.incidents import NoteCreate
from itsm_contracts.api.problems import (
    IncidentLink, ProblemActivityEntry, ProblemActivityPage, ProblemCreate, ProblemMove, ProblemPage,
    ProblemPublic, ProblemQuery, ProblemResolution, ProblemUpdate, RootCause,
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


@router.post("/{problem_id}/root-cause", response_model=ProblemPublic,
             summary="Write down the root cause (in assess, root cause analysis or fix in progress)")
async def identify_root_cause(problem_id: Ident, body: RootCause, uow: UnitOfWorkDep, response: Response,
                              if_match: IfMatch, actor: Actor) -> ProblemPublic:
    problem = await handlers.identify_root_cause(uow, problem_id, description=body.description,
                                                 cause_code=body.cause_code, actor=actor, if_match=if_match)
    return answer(response, ProblemPublic, problem)


@router.post("/{problem_id}/resolve", response_model=ProblemPublic,
             summary="Resolve the problem with a resolution (fix_applied needs a root cause)")
async def resolve_problem(problem_id: Ident, body: ProblemResolution, uow: UnitOfWorkDep, response: Response,
                          if_match: IfMatch, actor: Actor) -> ProblemPublic:
    problem = await handlers.resolve_problem(uow, problem_id, **body.model_dump(), actor=actor, if_match=if_match)
    return answer(response, ProblemPublic, problem)


@router.post("/{problem_id}/close", response_model=ProblemPublic, summary="Close a resolved problem")
async def close_problem(problem_id: Ident, uow: UnitOfWorkDep, response: Response, if_match: IfMatch,
                        actor: Actor) -> ProblemPublic:
    return answer(response, ProblemPublic, await handlers.close_problem(uow, problem_id, actor=actor,
                                                                        if_match=if_match))


@router.post("/{problem_id}/incidents", response_model=ProblemPublic,
             summary="Link an incident to the problem (linking it again changes nothing)")
async def link_incident(problem_id: Ident, body: IncidentLink, uow: UnitOfWorkDep, response: Response,
                        if_match: IfMatch, actor: Actor) -> ProblemPublic:
    problem = await handlers.link_incident(uow, problem_id, body.incident_id, actor=actor, if_match=if_match)
    return answer(response, ProblemPublic, problem)


@router.delete("/{problem_id}/incidents/{incident_id}", response_model=ProblemPublic,
               summary="Unlink an incident from the problem (one not linked changes nothing)")
async def unlink_incident(problem_id: Ident, incident_id: Ident, uow: UnitOfWorkDep, response: Response,
                          if_match: IfMatch, actor: Actor) -> ProblemPublic:
    problem = await handlers.unlink_incident(uow, problem_id, incident_id, actor=actor, if_match=if_match)
    return answer(response, ProblemPublic, problem)


@router.post("/{problem_id}/comments", response_model=ProblemPublic, summary="Add a comment")
async def add_comment(problem_id: Ident, body: NoteCreate, uow: UnitOfWorkDep, response: Response,
                      actor: Actor) -> ProblemPublic:
    return answer(response, ProblemPublic, await handlers.add_comment(uow, problem_id, text=body.text, actor=actor))


@router.post("/{problem_id}/work-notes", response_model=ProblemPublic, summary="Add an internal work note")
async def add_work_note(problem_id: Ident, body: NoteCreate, uow: UnitOfWorkDep, response: Response,
                        actor: Actor) -> ProblemPublic:
    return answer(response, ProblemPublic, await handlers.add_work_note(uow, problem_id, text=body.text,
                                                                        actor=actor))


@router.get("/{problem_id}/activity", response_model=ProblemActivityPage,
            summary="The problem's timeline, newest first: changes, comments, work notes")
async def list_activity(problem_id: Ident, uow: UnitOfWorkDep, cursor: str | None = None,
                        limit: Annotated[int, Query(ge=1, le=200)] = 50) -> ProblemActivityPage:
    items, next_cursor = await handlers.activity(uow, problem_id, limit=limit, cursor=cursor)
    return ProblemActivityPage(items=[ProblemActivityEntry(**e) for e in items], next_cursor=next_cursor)
