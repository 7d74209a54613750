"""Service levels for frontends: the sla service's definitions, calendars, timers and reports.

Reading is for any signed-in user; changing definitions and calendars, and repairing
timers after such a change, is for admins. No `from __future__ import annotations`: the
versioned routes' body types are variables FastAPI must see as classes.
"""

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel

from itsm_contracts.api.sla import (
    AtRiskList, AtRiskQuery, CalendarBody, CalendarList, CalendarPublic, ComplianceQuery, ComplianceReport,
    DefinitionBody, DefinitionList, DefinitionPublic, RepairRequest, RepairResult, TimerList, TimerPublic,
)
from itsm_contracts.events.sla import TimedRecord
from itsm_kit.api import Ident, IfMatchHeader
from itsm_kit.runtime import RuntimeDep
from itsm_gateway.auth import AdminUser, AgentUser, RoleRoute
from itsm_gateway.upstream import Passage

router = APIRouter(prefix="/sla", tags=["sla"], route_class=RoleRoute)
sla = Passage("sla", "/api/v1/sla")


# -- definitions and calendars ---------------------------------------------------------------------


def versioned(path: str, noun: str, body: type[BaseModel], public_model: type[BaseModel], listing: type[BaseModel],
              create_summary: str, delete_summary: str) -> None:
    """Routes for one kind of versioned record: anyone signed in reads, admins change."""
    kind = "sla_" + path.strip("/").removesuffix("s")  # operationIds: list_sla_calendars, get_sla_calendar, ...

    @router.get(path, response_model=listing, summary=f"{noun}s (latest versions)", name=f"list_{kind}s")
    async def list_all(request: Request, runtime: RuntimeDep, user: AgentUser) -> dict:
        return await sla.read(runtime, request, path)

    @router.post(path, response_model=public_model, status_code=201, summary=create_summary, name=f"create_{kind}")
    async def create(item: body, runtime: RuntimeDep, user: AdminUser, response: Response) -> dict:
        return await sla.send(runtime, response, "POST", path, item, actor=user)

    @router.get(path + "/{ident}", response_model=public_model, summary=f"A {noun}, latest version",
                name=f"get_{kind}")
    async def read(ident: Ident, request: Request, runtime: RuntimeDep, user: AgentUser, response: Response) -> dict:
        return await sla.read(runtime, request, f"{path}/{ident}", response)

    @router.put(path + "/{ident}", response_model=public_model,
                summary=f"Replace a {noun} (admin): a new version; open timers keep theirs until a repair",
                name=f"replace_{kind}")
    async def replace(ident: Ident, item: body, runtime: RuntimeDep, user: AdminUser, response: Response,
                      if_match: IfMatchHeader = None) -> dict:
        return await sla.send(runtime, response, "PUT", f"{path}/{ident}", item, actor=user, if_match=if_match)

    @router.delete(path + "/{ident}", status_code=204, summary=delete_summary, name=f"delete_{kind}")
    async def remove(ident: Ident, runtime: RuntimeDep, user: AdminUser, if_match: IfMatchHeader = None) -> Response:
        await sla.send(runtime, Response(), "DELETE", f"{path}/{ident}", None, actor=user, if_match=if_match)
        return Response(status_code=204)


versioned("/definitions", "SLA definition", DefinitionBody, DefinitionPublic, DefinitionList,
          "Create an SLA definition (admin): conditions, targets, calendar, thresholds, escalation",
          "Delete an SLA definition (admin): it attaches nothing more; its open timers run on")
versioned("/calendars", "calendar", CalendarBody, CalendarPublic, CalendarList,
          "Create a business calendar (admin): hours per weekday in its timezone, holidays",
          "Delete a calendar no SLA definition uses (admin)")


# -- timers, repair, reports ----------------------------------------------------------------------

@router.get("/timers", response_model=TimerList,
            summary="An incident's (incident_id) or a requested item's (record_type=request_item&record_id) SLA "
                    "timers: elapsed, remaining, percent, due, and the segments behind them")
async def list_timers(request: Request, runtime: RuntimeDep, user: AgentUser, incident_id: str | None = None,
                      record_type: TimedRecord = "incident", record_id: str | None = None) -> dict:
    return await sla.read(runtime, request, "/timers")


@router.get("/timers/{timer_id}", response_model=TimerPublic)
async def get_timer(timer_id: Ident, request: Request, runtime: RuntimeDep, user: AgentUser) -> dict:
    return await sla.read(runtime, request, f"/timers/{timer_id}")


@router.post("/repair", response_model=RepairResult,
             summary="Recompute open timers from their incidents' histories (admin), after a definition or calendar "
                     "change: no pause lost or counted twice")
async def repair_timers(body: RepairRequest, runtime: RuntimeDep, user: AdminUser, response: Response) -> dict:
    return await sla.send(runtime, response, "POST", "/repair", body, actor=user)


@router.get("/reports/compliance", response_model=ComplianceReport,
            summary="% of timers completed in [from, before) that met their target, by priority, service, period...")
async def get_compliance_report(request: Request, runtime: RuntimeDep, user: AgentUser,
                     query: Annotated[ComplianceQuery, Query()]) -> dict:
    return await sla.read(runtime, request, "/reports/compliance")


@router.get("/reports/at-risk", response_model=AtRiskList,
            summary="Open timers past a warning threshold or breached, furthest along first")
async def list_timers_at_risk(request: Request, runtime: RuntimeDep, user: AgentUser,
                  query: Annotated[AtRiskQuery, Query()]) -> dict:
    return await sla.read(runtime, request, "/reports/at-risk")
