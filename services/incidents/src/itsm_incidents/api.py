"""The incidents HTTP API (internal; clients reach it through the gateway).

Who acts comes in `X-Actor`: the gateway, the only entry, sets it from the caller's JWT
subject, and services inside trust it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response

from itsm_contracts.api.incidents import (
    ActivityEntry, ActivityPage, IncidentAlert, IncidentAlertList, IncidentCounts, IncidentCreate, IncidentFilter,
    IncidentPage, IncidentPublic,
    IncidentQuery, IncidentResolve, IncidentUpdate, NoteCreate, PriorityCell, PriorityMatrixPublic,
    PriorityMatrixUpdate, StateChange,
)
from itsm_kit.domain import PRIORITY_LABELS
from itsm_kit.errors import if_match_version, not_found
from itsm_kit.runtime import RuntimeDep, SessionDep
from itsm_incidents import ci_view, handlers
from itsm_incidents.domain import SYSTEM, Incident, State
from itsm_incidents.store import AlertRepository, IncidentRepository

router = APIRouter(prefix="/incidents", tags=["incidents"])
matrix_router = APIRouter(prefix="/priority-matrix", tags=["priority matrix"])


def public(incident: Incident) -> IncidentPublic:
    fields = {name: getattr(incident, name) for name in IncidentPublic.model_fields if hasattr(incident, name)}
    return IncidentPublic(priority_label=PRIORITY_LABELS[incident.priority], **fields)


IfMatch = Annotated[str | None, Header(description="the version (ETag) you last read; a stale one is a 412")]
Actor = Annotated[str, Header(alias="x-actor", min_length=1, max_length=255,
                              description="who acts: the gateway sets it from the JWT subject")]


def _if_match(value: str | None) -> int | None:
    return if_match_version(value, "an incident")


def _answer(incident: Incident, response: Response) -> IncidentPublic:
    response.headers["ETag"] = f'"{incident.version}"'
    return public(incident)


@router.get("", response_model=IncidentPage, summary="List and search incidents (cursor pagination)")
async def list_incidents(session: SessionDep, query: Annotated[IncidentQuery, Query()]) -> IncidentPage:
    items, next_cursor = await IncidentRepository(session).page(query)
    return IncidentPage(items=[public(i) for i in items], next_cursor=next_cursor)


@router.get("/counts", response_model=IncidentCounts, summary="How many incidents match, by state and priority")
async def count_incidents(session: SessionDep, where: Annotated[IncidentFilter, Query()]) -> IncidentCounts:
    by_state, by_priority = await IncidentRepository(session).counts(where)
    return IncidentCounts(total=sum(by_state.values()), by_state=by_state,
                          by_priority={str(p): n for p, n in by_priority.items()})


@router.get("/{incident_id}", response_model=IncidentPublic)
async def get_incident(incident_id: str, session: SessionDep, response: Response) -> IncidentPublic:
    incident = await IncidentRepository(session).get(incident_id)
    if incident is None:
        raise not_found("incident", incident_id)
    return await ci_view.with_affected_ci(session, _answer(incident, response))


@router.post("", response_model=IncidentPublic, status_code=201, summary="Open an incident by hand")
async def create_incident(body: IncidentCreate, runtime: RuntimeDep, response: Response,
                          actor: Actor = SYSTEM) -> IncidentPublic:
    async with runtime.transaction() as session:
        incident = await handlers.open_incident(session, runtime.outbox, actor=actor, **body.model_dump())
    response.headers["Location"] = f"{router.prefix}/{incident.id}"
    return _answer(incident, response)


@router.patch("/{incident_id}", response_model=IncidentPublic, summary="Change fields of an incident")
async def update_incident(incident_id: str, body: IncidentUpdate, runtime: RuntimeDep, response: Response,
                          if_match: IfMatch = None, actor: Actor = SYSTEM) -> IncidentPublic:
    async with runtime.transaction() as session:
        incident = await handlers.update_incident(session, runtime.outbox, incident_id, body.changes(), actor=actor,
                                                  if_match=_if_match(if_match))
    return _answer(incident, response)


@router.post("/{incident_id}/resolve", response_model=IncidentPublic,
             summary="Resolve an incident (its open children with it)")
async def resolve_incident(incident_id: str, body: IncidentResolve, runtime: RuntimeDep, response: Response,
                           if_match: IfMatch = None, actor: Actor = SYSTEM) -> IncidentPublic:
    async with runtime.transaction() as session:
        incident = await handlers.resolve_incident(session, runtime.outbox, incident_id, code=body.resolution_code,
                                                   notes=body.resolution_notes, actor=actor,
                                                   if_match=_if_match(if_match))
    return _answer(incident, response)


@router.post("/{incident_id}/state", response_model=IncidentPublic,
             summary="Move an incident to another state; in_progress from resolved reopens it")
async def change_state(incident_id: str, body: StateChange, runtime: RuntimeDep, response: Response,
                       if_match: IfMatch = None, actor: Actor = SYSTEM) -> IncidentPublic:
    window = timedelta(days=runtime.settings.reopen_window_days)
    async with runtime.transaction() as session:
        incident = await handlers.change_state(session, runtime.outbox, incident_id, state=State(body.state),
                                               hold_reason=body.hold_reason, comment=body.comment, actor=actor,
                                               reopen_window=window, if_match=_if_match(if_match))
    return _answer(incident, response)


@router.post("/{incident_id}/comments", response_model=IncidentPublic,
             summary="Add a comment the caller sees (the caller's own comment ends awaiting caller)")
async def add_comment(incident_id: str, body: NoteCreate, runtime: RuntimeDep, response: Response,
                      actor: Actor = SYSTEM) -> IncidentPublic:
    async with runtime.transaction() as session:
        incident = await handlers.add_comment(session, runtime.outbox, incident_id, text=body.text, actor=actor)
    return _answer(incident, response)


@router.post("/{incident_id}/work-notes", response_model=IncidentPublic, summary="Add an internal work note")
async def add_work_note(incident_id: str, body: NoteCreate, runtime: RuntimeDep, response: Response,
                        actor: Actor = SYSTEM) -> IncidentPublic:
    async with runtime.transaction() as session:
        incident = await handlers.add_work_note(session, runtime.outbox, incident_id, text=body.text, actor=actor)
    return _answer(incident, response)


@router.get("/{incident_id}/activity", response_model=ActivityPage,
            summary="The incident's timeline, newest first: changes, comments, work notes")
async def activity(incident_id: str, session: SessionDep, cursor: str | None = None,
                   limit: Annotated[int, Query(ge=1, le=200)] = 50) -> ActivityPage:
    repo = IncidentRepository(session)
    if await repo.get(incident_id) is None:
        raise not_found("incident", incident_id)
    items, next_cursor = await repo.activity(incident_id, limit=limit, cursor=cursor)
    return ActivityPage(items=[ActivityEntry(**e) for e in items], next_cursor=next_cursor)


@router.get("/{incident_id}/alerts", response_model=IncidentAlertList,
            summary="The monitoring alerts attached to the incident, first seen first")
async def alerts(incident_id: str, session: SessionDep) -> IncidentAlertList:
    if await IncidentRepository(session).get(incident_id) is None:
        raise not_found("incident", incident_id)
    return IncidentAlertList(items=[IncidentAlert(**row) for row in await AlertRepository(session).of(incident_id)])


@matrix_router.get("", response_model=PriorityMatrixPublic, summary="Impact x urgency -> priority, as in use")
async def get_priority_matrix(session: SessionDep) -> PriorityMatrixPublic:
    matrix, updated_at, updated_by = await handlers.priority_matrix(session)
    return PriorityMatrixPublic(cells=[PriorityCell(impact=i, urgency=u, priority=p)
                                       for (i, u), p in sorted(matrix.items())],
                                updated_at=updated_at, updated_by=updated_by)


@matrix_router.put("", response_model=PriorityMatrixPublic,
                   summary="Replace the matrix: all 9 cells; applies to new incidents and later reprioritisation")
async def put_priority_matrix(body: PriorityMatrixUpdate, runtime: RuntimeDep,
                              actor: Actor = SYSTEM) -> PriorityMatrixPublic:
    async with runtime.transaction() as session:
        await handlers.set_priority_matrix(session, [(c.impact, c.urgency, c.priority) for c in body.cells],
                                           actor=actor)
        return await get_priority_matrix(session)
