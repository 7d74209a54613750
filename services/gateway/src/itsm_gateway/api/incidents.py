"""Incidents for frontends: the incidents service's records, with their SLA timers composed in.

Every call upstream names who acts (the JWT subject) and their groups in the gateway's signature: the
incidents service writes it on the timeline, and takes no call the gateway did not sign. A requester sees and
comments on only the incidents they are the caller of (itsm_gateway.access).
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from itsm_contracts.api.incidents import (
    ActivityPage, IncidentAlertList, IncidentCounts, IncidentCreate, IncidentFilter, IncidentPage, IncidentPublic,
    IncidentQuery, IncidentResolve, IncidentUpdate, IncidentView, NoteCreate, PriorityMatrixPublic,
    PriorityMatrixUpdate, ProblemRef, StateChange,
)
from itsm_kit.api import Ident, IfMatchHeader
from itsm_kit.errors import Problem
from itsm_kit.runtime import RuntimeDep
from itsm_gateway.access import (
    check_incident_access, readable_incident, scoped_incident_query, sees_all_incidents, visible_activity,
)
from itsm_gateway.auth import AdminUser, AgentUser, RequesterUser, RoleRoute
from itsm_gateway.upstream import Passage, call

router = APIRouter(prefix="/incidents", tags=["incidents"], route_class=RoleRoute)
incidents = Passage("incidents", "/api/v1")


OWN_ONLY = "A requester gets only the incidents they are the caller of (any `caller` filter is theirs)."


@router.get("", response_model=IncidentPage, summary="List and search incidents (filters, sort, cursor pagination)",
            description=OWN_ONLY)
async def list_incidents(request: Request, runtime: RuntimeDep, user: RequesterUser,
                         query: Annotated[IncidentQuery, Query()]) -> dict:
    params = scoped_incident_query(user, request.query_params.multi_items())
    return await incidents.read(runtime, request, "/incidents", actor=user, params=params)


@router.get("/counts", response_model=IncidentCounts, summary="How many incidents match, by state and priority",
            description=OWN_ONLY)
async def count_incidents(request: Request, runtime: RuntimeDep, user: RequesterUser,
                          where: Annotated[IncidentFilter, Query()]) -> dict:
    params = scoped_incident_query(user, request.query_params.multi_items())
    return await incidents.read(runtime, request, "/incidents/counts", actor=user, params=params)


@router.get("/priority-matrix", response_model=PriorityMatrixPublic, summary="Impact x urgency -> priority")
async def get_priority_matrix(runtime: RuntimeDep, user: RequesterUser) -> dict:
    return (await call(runtime, "incidents", "GET", "/priority-matrix", actor=user)).json()


@router.put("/priority-matrix", response_model=PriorityMatrixPublic,
            summary="Replace the priority matrix (admin); new incidents and later reprioritisation use it")
async def replace_priority_matrix(body: PriorityMatrixUpdate, runtime: RuntimeDep, user: AdminUser,
                              response: Response) -> dict:
    return await incidents.send(runtime, response, "PUT", "/priority-matrix", body, actor=user)


@router.get("/{incident_id}", response_model=IncidentView, summary="An incident with its SLA timers",
            description="A requester's own incidents only: another's is a 404.")
async def get_incident(incident_id: Ident, runtime: RuntimeDep, user: RequesterUser, response: Response) -> dict:
    incident, timers = await asyncio.gather(
        call(runtime, "incidents", "GET", f"/incidents/{incident_id}", actor=user),
        call(runtime, "sla", "GET", "/timers", actor=user, params={"incident_id": incident_id}),
        return_exceptions=True,
    )
    if isinstance(incident, BaseException):
        raise incident
    check_incident_access(user, incident.json(), incident_id)
    body = incidents.relay(incident, response)
    # The incident is the answer; its SLA timers are an enrichment that may be briefly unavailable.
    if isinstance(timers, Problem):
        body["sla_timers"], body["partial"] = None, ["sla_timers"]
    elif isinstance(timers, BaseException):
        raise timers
    else:
        body["sla_timers"] = timers.json()["items"]
    return body


@router.post("", response_model=IncidentPublic, status_code=201, summary="Open an incident",
             description="A requester opens incidents as their caller (a `caller` they send is replaced by them).")
async def create_incident(body: IncidentCreate, runtime: RuntimeDep, user: RequesterUser, response: Response) -> dict:
    if not sees_all_incidents(user):
        body = body.model_copy(update={"caller": user.id})  # one cannot open an incident in another's name
    return await incidents.send(runtime, response, "POST", "/incidents", body, actor=user)


@router.patch("/{incident_id}", response_model=IncidentPublic,
              summary="Change fields: assignment, category, impact/urgency, priority override, parent, ...")
async def update_incident(incident_id: Ident, body: IncidentUpdate, runtime: RuntimeDep, user: AgentUser,
                          response: Response, if_match: IfMatchHeader = None) -> dict:
    return await incidents.send(runtime, response, "PATCH", f"/incidents/{incident_id}", body,
                                actor=user, if_match=if_match)


@router.post("/{incident_id}/resolve", response_model=IncidentPublic,
             summary="Resolve an incident (its open children with it)")
async def resolve_incident(incident_id: Ident, body: IncidentResolve, runtime: RuntimeDep, user: AgentUser,
                           response: Response, if_match: IfMatchHeader = None) -> dict:
    return await incidents.send(runtime, response, "POST", f"/incidents/{incident_id}/resolve", body,
                                actor=user, if_match=if_match)


@router.post("/{incident_id}/state", response_model=IncidentPublic,
             summary="Move an incident to another state; in_progress from resolved reopens it")
async def change_incident_state(incident_id: Ident, body: StateChange, runtime: RuntimeDep, user: AgentUser,
                       response: Response, if_match: IfMatchHeader = None) -> dict:
    return await incidents.send(runtime, response, "POST", f"/incidents/{incident_id}/state", body,
                                actor=user, if_match=if_match)


@router.post("/{incident_id}/comments", response_model=IncidentPublic,
             summary="Add a comment the caller sees (the caller's own comment ends awaiting caller)",
             description="A requester comments on their own incidents only: another's is a 404.")
async def add_comment(incident_id: Ident, body: NoteCreate, runtime: RuntimeDep, user: RequesterUser,
                      response: Response) -> dict:
    if not sees_all_incidents(user):
        await readable_incident(runtime, user, incident_id)
    return await incidents.send(runtime, response, "POST", f"/incidents/{incident_id}/comments", body, actor=user)


@router.post("/{incident_id}/work-notes", response_model=IncidentPublic, summary="Add an internal work note")
async def add_work_note(incident_id: Ident, body: NoteCreate, runtime: RuntimeDep, user: AgentUser,
                        response: Response) -> dict:
    return await incidents.send(runtime, response, "POST", f"/incidents/{incident_id}/work-notes", body, actor=user)


@router.put("/{incident_id}/problem", response_model=IncidentPublic,
            summary="Link the incident to a problem (moving it from another one)",
            description="The problems service hears of it by event (itsm.incident.problem_linked) and links it there, "
                        "or refuses: then the link is taken back with a work note saying why.")
async def link_incident_to_its_problem(incident_id: Ident, body: ProblemRef, runtime: RuntimeDep, user: AgentUser,
                                       response: Response, if_match: IfMatchHeader = None) -> dict:
    return await incidents.send(runtime, response, "PUT", f"/incidents/{incident_id}/problem", body,
                                actor=user, if_match=if_match)


@router.delete("/{incident_id}/problem", response_model=IncidentPublic,
               summary="Unlink the incident from its problem",
               description="The problems service hears of it by event (itsm.incident.problem_unlinked).")
async def unlink_incident_from_its_problem(incident_id: Ident, runtime: RuntimeDep, user: AgentUser,
                                           response: Response, if_match: IfMatchHeader = None) -> dict:
    return await incidents.send(runtime, response, "DELETE", f"/incidents/{incident_id}/problem", None,
                                actor=user, if_match=if_match)


@router.get("/{incident_id}/alerts", response_model=IncidentAlertList,
            summary="The monitoring alerts attached to the incident: its opener, repeats, its storm")
async def list_incident_alerts(incident_id: Ident, request: Request, runtime: RuntimeDep, user: AgentUser) -> dict:
    return await incidents.read(runtime, request, f"/incidents/{incident_id}/alerts")


@router.get("/{incident_id}/activity", response_model=ActivityPage,
            summary="The incident's timeline, newest first: changes, comments, work notes (not for requesters)",
            description="A requester's own incidents only: another's is a 404.")
async def list_incident_activity(incident_id: Ident, request: Request, runtime: RuntimeDep, user: RequesterUser,
                                 cursor: str | None = None, limit: Annotated[int, Query(ge=1, le=200)] = 50) -> dict:
    if not sees_all_incidents(user):
        await readable_incident(runtime, user, incident_id)
    return visible_activity(user, await incidents.read(runtime, request, f"/incidents/{incident_id}/activity",
                                                       actor=user))
