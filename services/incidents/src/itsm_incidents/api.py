"""The incidents HTTP API (internal; clients reach it through the gateway)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Response

from itsm_contracts.api.incidents import IncidentCreate, IncidentPage, IncidentPublic, IncidentResolve, StateChange
from itsm_kit.errors import Problem, not_found
from itsm_kit.runtime import RuntimeDep, SessionDep
from itsm_incidents import handlers
from itsm_incidents.domain import Incident, State
from itsm_kit.domain import PRIORITY_LABELS
from itsm_incidents.store import IncidentRepository

router = APIRouter(prefix="/incidents", tags=["incidents"])


def public(incident: Incident) -> IncidentPublic:
    fields = {name: getattr(incident, name) for name in IncidentPublic.model_fields if name != "priority_label"}
    return IncidentPublic(priority_label=PRIORITY_LABELS[incident.priority], **fields)


IfMatch = Annotated[str | None, Header(description="the version (ETag) you last read; a stale one is a 412")]


def _if_match(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value.strip().removeprefix("W/").strip('"'))
    except ValueError:
        raise Problem(400, "Bad Request", "If-Match must be an incident version (its ETag)") from None


def _answer(incident: Incident, response: Response) -> IncidentPublic:
    response.headers["ETag"] = f'"{incident.version}"'
    return public(incident)


@router.get("", response_model=IncidentPage, summary="List incidents, newest first")
async def list_incidents(
    session: SessionDep,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    state: Annotated[list[State] | None, Query()] = None,
    priority: Annotated[list[int] | None, Query()] = None,
    dedup_key: str | None = None,
) -> IncidentPage:
    items, next_cursor = await IncidentRepository(session).page(
        limit=limit, cursor=cursor, states=[s.value for s in state] if state else None, priorities=priority,
        dedup_key=dedup_key,
    )
    return IncidentPage(items=[public(i) for i in items], next_cursor=next_cursor)


@router.get("/{incident_id}", response_model=IncidentPublic)
async def get_incident(incident_id: str, session: SessionDep, response: Response) -> IncidentPublic:
    incident = await IncidentRepository(session).get(incident_id)
    if incident is None:
        raise not_found("incident", incident_id)
    return _answer(incident, response)


@router.post("", response_model=IncidentPublic, status_code=201, summary="Open an incident by hand")
async def create_incident(body: IncidentCreate, runtime: RuntimeDep, response: Response) -> IncidentPublic:
    async with runtime.transaction() as session:
        incident = await handlers.open_incident(session, runtime.outbox, **body.model_dump())
    response.headers["Location"] = f"{router.prefix}/{incident.id}"
    return _answer(incident, response)


@router.post("/{incident_id}/resolve", response_model=IncidentPublic)
async def resolve_incident(incident_id: str, body: IncidentResolve, runtime: RuntimeDep, response: Response,
                           if_match: IfMatch = None) -> IncidentPublic:
    async with runtime.transaction() as session:
        incident = await handlers.resolve_incident(session, runtime.outbox, incident_id, code=body.resolution_code,
                                                   notes=body.resolution_notes, if_match=_if_match(if_match))
    return _answer(incident, response)


@router.post("/{incident_id}/state", response_model=IncidentPublic)
async def change_state(incident_id: str, body: StateChange, runtime: RuntimeDep, response: Response,
                       if_match: IfMatch = None) -> IncidentPublic:
    if (body.state == "on_hold") != (body.hold_reason is not None):
        raise Problem(422, "Unprocessable Content", "a hold reason is required for on_hold, and only for it")
    async with runtime.transaction() as session:
        incident = await handlers.change_state(session, runtime.outbox, incident_id, state=State(body.state),
                                               hold_reason=body.hold_reason, if_match=_if_match(if_match))
    return _answer(incident, response)
