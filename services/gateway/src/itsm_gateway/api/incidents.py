"""Incidents for frontends: the incidents service's records, with their SLA timers composed in."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response

from itsm_contracts.api.incidents import (
    IncidentCreate, IncidentPage, IncidentPublic, IncidentResolve, IncidentView, StateChange,
)
from itsm_contracts.events.incidents import IncidentState
from itsm_kit.errors import Problem
from itsm_kit.runtime import RuntimeDep
from itsm_gateway.auth import CurrentUser
from itsm_gateway.upstream import call, passed_headers

router = APIRouter(prefix="/incidents", tags=["incidents"])

IfMatch = Annotated[str | None, Header(description="the incident's version (ETag) you last read; stale is a 412")]


def _relay(upstream, response: Response) -> dict:
    response.headers.update(passed_headers(upstream))
    if "location" in upstream.headers:
        response.headers["location"] = "/api/v1" + upstream.headers["location"]
    return upstream.json()


@router.get("", response_model=IncidentPage, summary="List incidents, newest first (cursor pagination)")
async def list_incidents(request: Request, runtime: RuntimeDep, user: CurrentUser,
                         cursor: str | None = None, limit: Annotated[int, Query(ge=1, le=200)] = 50,
                         state: Annotated[list[IncidentState] | None, Query()] = None,
                         priority: Annotated[list[int] | None, Query()] = None,
                         dedup_key: str | None = None) -> dict:
    upstream = await call(runtime, "incidents", "GET", "/incidents", params=request.query_params)
    return upstream.json()


@router.get("/{incident_id}", response_model=IncidentView, summary="An incident with its SLA timers")
async def get_incident(incident_id: str, runtime: RuntimeDep, user: CurrentUser, response: Response) -> dict:
    incident, timers = await asyncio.gather(
        call(runtime, "incidents", "GET", f"/incidents/{incident_id}"),
        call(runtime, "sla", "GET", "/timers", params={"incident_id": incident_id}),
        return_exceptions=True,
    )
    if isinstance(incident, BaseException):
        raise incident
    body = _relay(incident, response)
    # The incident is the answer; its SLA timers are an enrichment that may be briefly unavailable.
    if isinstance(timers, Problem):
        body["sla_timers"], body["partial"] = None, ["sla_timers"]
    elif isinstance(timers, BaseException):
        raise timers
    else:
        body["sla_timers"] = timers.json()["items"]
    return body


@router.post("", response_model=IncidentPublic, status_code=201, summary="Open an incident")
async def create_incident(body: IncidentCreate, runtime: RuntimeDep, user: CurrentUser, response: Response) -> dict:
    upstream = await call(runtime, "incidents", "POST", "/incidents", json=body.model_dump())
    return _relay(upstream, response)


async def _change(runtime: RuntimeDep, response: Response, path: str, body, if_match: str | None) -> dict:
    headers = {"if-match": if_match} if if_match else {}
    upstream = await call(runtime, "incidents", "POST", path, json=body.model_dump(), headers=headers)
    return _relay(upstream, response)


@router.post("/{incident_id}/resolve", response_model=IncidentPublic, summary="Resolve an incident")
async def resolve_incident(incident_id: str, body: IncidentResolve, runtime: RuntimeDep, user: CurrentUser,
                           response: Response, if_match: IfMatch = None) -> dict:
    return await _change(runtime, response, f"/incidents/{incident_id}/resolve", body, if_match)


@router.post("/{incident_id}/state", response_model=IncidentPublic, summary="Move an incident to another state")
async def change_state(incident_id: str, body: StateChange, runtime: RuntimeDep, user: CurrentUser,
                       response: Response, if_match: IfMatch = None) -> dict:
    return await _change(runtime, response, f"/incidents/{incident_id}/state", body, if_match)
