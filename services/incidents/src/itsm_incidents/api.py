"""The incidents HTTP API (internal; clients reach it through the gateway).

Only calls the gateway signed get in (itsm_kit.internal_auth); who acts is the signature's subject,
the caller's JWT subject.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Response

from itsm_contracts.api.cmdb import CiBrief
from itsm_contracts.api.incidents import (
    ActivityEntry, ActivityPage, IncidentAlert, IncidentAlertList, IncidentCounts, IncidentCreate, IncidentFilter,
    IncidentPage, IncidentPublic, IncidentQuery, IncidentResolve, IncidentUpdate, NoteCreate, PriorityCell,
    PriorityMatrixPublic, PriorityMatrixUpdate, ProblemRef, StateChange,
)
from itsm_contracts.api.search import IncidentHit, IncidentSearchQuery
from itsm_kit.api import Actor, Ident, IfMatch, tag
from itsm_kit.domain import PRIORITY_LABELS
from itsm_kit.runtime import RuntimeDep, UnitOfWorkDep
from itsm_incidents import handlers
from itsm_incidents.domain import Incident, State

router = APIRouter(prefix="/incidents", tags=["incidents"])
matrix_router = APIRouter(prefix="/priority-matrix", tags=["priority matrix"])


def public(incident: Incident) -> IncidentPublic:
    fields = {name: getattr(incident, name) for name in IncidentPublic.model_fields if hasattr(incident, name)}
    return IncidentPublic(priority_label=PRIORITY_LABELS[incident.priority], **fields)


def _answer(incident: Incident, response: Response) -> IncidentPublic:
    tag(response, incident.version)
    return public(incident)


_CI_BRIEF = tuple(CiBrief.model_fields)


@router.get("", response_model=IncidentPage, summary="List and search incidents (cursor pagination)")
async def list_incidents(uow: UnitOfWorkDep, query: Annotated[IncidentQuery, Query()]) -> IncidentPage:
    page = query.model_dump(include={"sort", "order", "limit", "cursor"})
    items, next_cursor = await handlers.list_incidents(uow, query.model_dump(exclude=set(page)), **page)
    return IncidentPage(items=[public(i) for i in items], next_cursor=next_cursor)


@router.get("/search", response_model=list[IncidentHit],
            summary="The incidents a text finds, best first (words, misspellings, the number)")
async def search_incidents(uow: UnitOfWorkDep, query: Annotated[IncidentSearchQuery, Query()]) -> list[IncidentHit]:
    hits = await handlers.search_incidents(uow, query.q, limit=query.limit, caller=query.caller)
    return [IncidentHit(**hit) for hit in hits]


@router.get("/counts", response_model=IncidentCounts, summary="How many incidents match, by state and priority")
async def count_incidents(uow: UnitOfWorkDep, where: Annotated[IncidentFilter, Query()]) -> IncidentCounts:
    by_state, by_priority = await handlers.count_incidents(uow, where.model_dump())
    return IncidentCounts(total=sum(by_state.values()), by_state=by_state,
                          by_priority={str(p): n for p, n in by_priority.items()})


@router.get("/{incident_id}", response_model=IncidentPublic,
            summary="An incident, with its affected CI and the business services that CI impacts")
async def get_incident(incident_id: Ident, uow: UnitOfWorkDep, response: Response) -> IncidentPublic:
    incident, ci, services = await handlers.incident_with_ci(uow, incident_id)
    answer = _answer(incident, response)
    if ci is None:
        return answer
    return answer.model_copy(update={
        "affected_ci_details": CiBrief(**{k: ci[k] for k in _CI_BRIEF}),
        "impacted_business_services": [CiBrief(**{k: s[k] for k in _CI_BRIEF}) for s in services]})


@router.post("", response_model=IncidentPublic, status_code=201, summary="Open an incident by hand")
async def create_incident(body: IncidentCreate, uow: UnitOfWorkDep, response: Response,
                          actor: Actor) -> IncidentPublic:
    incident = await handlers.open_incident(uow, actor=actor, **body.model_dump())
    response.headers["Location"] = f"{router.prefix}/{incident.id}"
    return _answer(incident, response)


@router.patch("/{incident_id}", response_model=IncidentPublic, summary="Change fields of an incident")
async def update_incident(incident_id: Ident, body: IncidentUpdate, uow: UnitOfWorkDep, response: Response,
                          if_match: IfMatch, actor: Actor) -> IncidentPublic:
    incident = await handlers.update_incident(uow, incident_id, body.changes(), actor=actor, if_match=if_match)
    return _answer(incident, response)


@router.post("/{incident_id}/resolve", response_model=IncidentPublic,
             summary="Resolve an incident (its open children with it)")
async def resolve_incident(incident_id: Ident, body: IncidentResolve, uow: UnitOfWorkDep, response: Response,
                           if_match: IfMatch, actor: Actor) -> IncidentPublic:
    incident = await handlers.resolve_incident(uow, incident_id, code=body.resolution_code,
                                               notes=body.resolution_notes, actor=actor, if_match=if_match)
    return _answer(incident, response)


@router.post("/{incident_id}/state", response_model=IncidentPublic,
             summary="Move an incident to another state; in_progress from resolved reopens it")
async def change_state(incident_id: Ident, body: StateChange, uow: UnitOfWorkDep, runtime: RuntimeDep,
                       response: Response, if_match: IfMatch, actor: Actor) -> IncidentPublic:
    incident = await handlers.change_state(uow, incident_id, state=State(body.state), hold_reason=body.hold_reason,
                                           comment=body.comment, actor=actor, if_match=if_match,
                                           reopen_window=timedelta(days=runtime.settings.reopen_window_days))
    return _answer(incident, response)


@router.post("/{incident_id}/comments", response_model=IncidentPublic,
             summary="Add a comment the caller sees (the caller's own comment ends awaiting caller)")
async def add_comment(incident_id: Ident, body: NoteCreate, uow: UnitOfWorkDep, response: Response,
                      actor: Actor) -> IncidentPublic:
    return _answer(await handlers.add_comment(uow, incident_id, text=body.text, actor=actor), response)


@router.post("/{incident_id}/work-notes", response_model=IncidentPublic, summary="Add an internal work note")
async def add_work_note(incident_id: Ident, body: NoteCreate, uow: UnitOfWorkDep, response: Response,
                        actor: Actor) -> IncidentPublic:
    return _answer(await handlers.add_work_note(uow, incident_id, text=body.text, actor=actor), response)


@router.put("/{incident_id}/problem", response_model=IncidentPublic,
            summary="Link the incident to a problem (moving it from another); the problem hears of it by event")
async def link_to_problem(incident_id: Ident, body: ProblemRef, uow: UnitOfWorkDep, response: Response,
                          if_match: IfMatch, actor: Actor) -> IncidentPublic:
    incident = await handlers.link_to_problem(uow, incident_id, body.problem_id, actor=actor, if_match=if_match)
    return _answer(incident, response)


@router.delete("/{incident_id}/problem", response_model=IncidentPublic,
               summary="Unlink the incident from its problem; the problem hears of it by event")
async def unlink_from_problem(incident_id: Ident, uow: UnitOfWorkDep, response: Response, if_match: IfMatch,
                              actor: Actor) -> IncidentPublic:
    return _answer(await handlers.unlink_from_problem(uow, incident_id, actor=actor, if_match=if_match), response)


@router.get("/{incident_id}/activity", response_model=ActivityPage,
            summary="The incident's timeline, newest first: changes, comments, work notes")
async def activity(incident_id: Ident, uow: UnitOfWorkDep, cursor: str | None = None,
                   limit: Annotated[int, Query(ge=1, le=200)] = 50) -> ActivityPage:
    items, next_cursor = await handlers.activity(uow, incident_id, limit=limit, cursor=cursor)
    return ActivityPage(items=[ActivityEntry(**e) for e in items], next_cursor=next_cursor)


@router.get("/{incident_id}/alerts", response_model=IncidentAlertList,
            summary="The monitoring alerts attached to the incident, first seen first")
async def alerts(incident_id: Ident, uow: UnitOfWorkDep) -> IncidentAlertList:
    return IncidentAlertList(items=[IncidentAlert(**dataclasses.asdict(e))
                                    for e in await handlers.alerts_of(uow, incident_id)])


def _matrix_public(matrix: dict[tuple[int, int], int], updated_at, updated_by) -> PriorityMatrixPublic:
    return PriorityMatrixPublic(cells=[PriorityCell(impact=i, urgency=u, priority=p)
                                       for (i, u), p in sorted(matrix.items())],
                                updated_at=updated_at, updated_by=updated_by)


@matrix_router.get("", response_model=PriorityMatrixPublic, summary="Impact x urgency -> priority, as in use")
async def get_priority_matrix(uow: UnitOfWorkDep) -> PriorityMatrixPublic:
    return _matrix_public(*await handlers.priority_matrix(uow))


@matrix_router.put("", response_model=PriorityMatrixPublic,
                   summary="Replace the matrix: all 9 cells; applies to new incidents and later reprioritisation")
async def put_priority_matrix(body: PriorityMatrixUpdate, uow: UnitOfWorkDep, actor: Actor) -> PriorityMatrixPublic:
    return _matrix_public(*await handlers.set_priority_matrix(uow, [(c.impact, c.urgency, c.priority)
                                                                      for c in body.cells], actor=actor))
