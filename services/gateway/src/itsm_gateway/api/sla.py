"""Service levels for frontends: the sla service's definitions, calendars, timers and reports.

Reading is for any signed-in user; changing definitions and calendars, and repairing
timers after such a change, is for admins.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response

from itsm_contracts.api.sla import (
    AtRiskList, AtRiskQuery, CalendarBody, CalendarList, CalendarPublic, ComplianceQuery, ComplianceReport,
    DefinitionBody, DefinitionList, DefinitionPublic, RepairRequest, RepairResult, TimerList, TimerPublic,
)
from itsm_kit.runtime import RuntimeDep
from itsm_gateway.auth import AdminUser, CurrentUser
from itsm_gateway.upstream import Passage

router = APIRouter(prefix="/sla", tags=["sla"])
sla = Passage("sla", "/api/v1/sla")

IfMatch = Annotated[str | None, Header(description="the version (ETag) you last read; stale is a 412")]


# -- definitions --------------------------------------------------------------------------------

@router.get("/definitions", response_model=DefinitionList, summary="SLA definitions (latest versions)")
async def list_definitions(request: Request, runtime: RuntimeDep, user: CurrentUser) -> dict:
    return await sla.read(runtime, request, "/definitions")


@router.post("/definitions", response_model=DefinitionPublic, status_code=201,
             summary="Create an SLA definition (admin): conditions, targets, calendar, thresholds, escalation")
async def create_definition(body: DefinitionBody, runtime: RuntimeDep, user: AdminUser, response: Response) -> dict:
    return await sla.send(runtime, response, "POST", "/definitions", body, actor=user.id)


@router.get("/definitions/{definition_id}", response_model=DefinitionPublic)
async def get_definition(definition_id: str, request: Request, runtime: RuntimeDep, user: CurrentUser,
                         response: Response) -> dict:
    return await sla.read(runtime, request, f"/definitions/{definition_id}", response)


@router.put("/definitions/{definition_id}", response_model=DefinitionPublic,
            summary="Replace an SLA definition (admin): a new version; open timers keep theirs until a repair")
async def replace_definition(definition_id: str, body: DefinitionBody, runtime: RuntimeDep, user: AdminUser,
                             response: Response, if_match: IfMatch = None) -> dict:
    return await sla.send(runtime, response, "PUT", f"/definitions/{definition_id}", body, actor=user.id,
                          if_match=if_match)


@router.delete("/definitions/{definition_id}", status_code=204,
               summary="Delete an SLA definition no timer ran by (admin); otherwise deactivate it")
async def delete_definition(definition_id: str, runtime: RuntimeDep, user: AdminUser,
                            if_match: IfMatch = None) -> Response:
    await sla.send(runtime, Response(), "DELETE", f"/definitions/{definition_id}", None, actor=user.id,
                   if_match=if_match)
    return Response(status_code=204)


# -- calendars ----------------------------------------------------------------------------------

@router.get("/calendars", response_model=CalendarList, summary="Business calendars (latest versions)")
async def list_calendars(request: Request, runtime: RuntimeDep, user: CurrentUser) -> dict:
    return await sla.read(runtime, request, "/calendars")


@router.post("/calendars", response_model=CalendarPublic, status_code=201,
             summary="Create a business calendar (admin): hours per weekday in its timezone, holidays")
async def create_calendar(body: CalendarBody, runtime: RuntimeDep, user: AdminUser, response: Response) -> dict:
    return await sla.send(runtime, response, "POST", "/calendars", body, actor=user.id)


@router.get("/calendars/{calendar_id}", response_model=CalendarPublic)
async def get_calendar(calendar_id: str, request: Request, runtime: RuntimeDep, user: CurrentUser,
                       response: Response) -> dict:
    return await sla.read(runtime, request, f"/calendars/{calendar_id}", response)


@router.put("/calendars/{calendar_id}", response_model=CalendarPublic,
            summary="Replace a business calendar (admin): a new version; open timers keep theirs until a repair")
async def replace_calendar(calendar_id: str, body: CalendarBody, runtime: RuntimeDep, user: AdminUser,
                           response: Response, if_match: IfMatch = None) -> dict:
    return await sla.send(runtime, response, "PUT", f"/calendars/{calendar_id}", body, actor=user.id,
                          if_match=if_match)


@router.delete("/calendars/{calendar_id}", status_code=204, summary="Delete a calendar no definition uses (admin)")
async def delete_calendar(calendar_id: str, runtime: RuntimeDep, user: AdminUser, if_match: IfMatch = None) -> Response:
    await sla.send(runtime, Response(), "DELETE", f"/calendars/{calendar_id}", None, actor=user.id, if_match=if_match)
    return Response(status_code=204)


# -- timers, repair, reports ----------------------------------------------------------------------

@router.get("/timers", response_model=TimerList,
            summary="An incident's SLA timers: elapsed, remaining, percent, due, and the segments behind them")
async def list_timers(incident_id: str, request: Request, runtime: RuntimeDep, user: CurrentUser) -> dict:
    return await sla.read(runtime, request, "/timers")


@router.get("/timers/{timer_id}", response_model=TimerPublic)
async def get_timer(timer_id: str, request: Request, runtime: RuntimeDep, user: CurrentUser) -> dict:
    return await sla.read(runtime, request, f"/timers/{timer_id}")


@router.post("/repair", response_model=RepairResult,
             summary="Recompute open timers from their incidents' histories (admin), after a definition or calendar "
                     "change: no pause lost or counted twice")
async def repair(body: RepairRequest, runtime: RuntimeDep, user: AdminUser, response: Response) -> dict:
    return await sla.send(runtime, response, "POST", "/repair", body, actor=user.id)


@router.get("/reports/compliance", response_model=ComplianceReport,
            summary="% of timers completed in [from, before) that met their target, by priority, service, period...")
async def compliance(request: Request, runtime: RuntimeDep, user: CurrentUser,
                     query: Annotated[ComplianceQuery, Query()]) -> dict:
    return await sla.read(runtime, request, "/reports/compliance")


@router.get("/reports/at-risk", response_model=AtRiskList,
            summary="Open timers past a warning threshold or breached, furthest along first")
async def at_risk(request: Request, runtime: RuntimeDep, user: CurrentUser,
                  query: Annotated[AtRiskQuery, Query()]) -> dict:
    return await sla.read(runtime, request, "/reports/at-risk")
