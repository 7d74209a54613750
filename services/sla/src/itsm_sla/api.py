"""The sla HTTP API (internal; the gateway re-exposes it under /api/v1/sla and composes timers
into incidents). Only calls the gateway signed get in; who acts is the signature's subject.

No `from __future__ import annotations` here: the versioned routes' body types are
variables that FastAPI must see as classes.
"""

from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel

from itsm_contracts.api.sla import (
    AtRiskList, AtRiskQuery, CalendarBody, CalendarList, CalendarPublic, ComplianceQuery, ComplianceReport,
    DefinitionBody, DefinitionList, DefinitionPublic, RepairRequest, RepairResult, SegmentPublic, TimerList,
    TimerPublic,
)
from itsm_contracts.events.sla import TimedRecord
from itsm_kit.api import Actor, Ident, IfMatch, tag
from itsm_kit.domain import InvalidValue
from itsm_kit.clock import utcnow
from itsm_kit.runtime import RuntimeDep, UnitOfWorkDep
from itsm_sla import handlers
from itsm_sla.domain import Clock, Timer
from itsm_sla.handlers import Clocked
from itsm_sla.scheduler import catalog_of

timers_router = APIRouter(prefix="/timers", tags=["timers"])
operations_router = APIRouter(tags=["repair and reports"])


# -- timers -----------------------------------------------------------------------------------


def public(timer: Timer, clock: Clock, now: datetime) -> TimerPublic:
    elapsed = timer.elapsed(clock, now)
    segments = [SegmentPublic(state=s.state, started_at=s.start, ended_at=s.end, started_by=s.start_event,
                              ended_by=s.end_event, reason=s.reason, end_reason=s.end_reason,
                              business_seconds=clock.measure(s.start, s.end or max(now, s.start)).total_seconds())
                for s in timer.segments]
    return TimerPublic(
        id=timer.id, incident_id=timer.incident_id or "", kind=timer.kind, policy=timer.policy, priority=timer.priority,
        stage=timer.stage.value, started_at=timer.started_at, due_at=timer.due(clock, now),
        stopped_at=timer.stopped_at, breached=timer.is_breached(clock, now), elapsed_seconds=elapsed.total_seconds(),
        remaining_seconds=(timer.target - elapsed).total_seconds(), percent=timer.percent(clock, now),
        definition_id=timer.definition_id, definition_version=timer.definition_version, cycle=timer.cycle,
        calendar_id=timer.calendar_id, target_seconds=timer.target.total_seconds(), attached_at=timer.attached_at,
        breached_at=timer.breached_at, paused_seconds=timer.paused_for(now).total_seconds(),
        warning_thresholds=list(timer.thresholds), notified_percent=timer.notified_percent,
        escalation_group=timer.escalation_group, business_service=timer.business_service, segments=segments,
        record_type=timer.record_type, record_id=timer.record_id, request_id=timer.request_id,
    )


def publish_all(clocked: list[Clocked]) -> list[TimerPublic]:
    now = utcnow()
    return [public(t, clock, now) for t, clock in clocked]


@timers_router.get("", response_model=TimerList,
                   summary="The SLA timers of an incident (incident_id, or record_type=incident&record_id) or of a "
                           "requested item (record_type=request_item&record_id)")
async def list_timers(uow: UnitOfWorkDep, runtime: RuntimeDep, incident_id: str | None = None,
                      record_type: TimedRecord = "incident", record_id: str | None = None) -> TimerList:
    if record_type == "request_item" and record_id:
        return TimerList(items=publish_all(await handlers.list_request_item_timers(uow, record_id)))
    if (incident_id := incident_id or (record_id if record_type == "incident" else None)) is None:
        raise InvalidValue("name the record: incident_id, or record_type and record_id", record_type=record_type)
    return TimerList(items=publish_all(await handlers.list_timers(uow, catalog_of(runtime), incident_id)))


@timers_router.get("/{timer_id}", response_model=TimerPublic, summary="A timer with its segments")
async def get_timer(timer_id: Ident, uow: UnitOfWorkDep, runtime: RuntimeDep) -> TimerPublic:
    [found] = publish_all([await handlers.get_timer(uow, catalog_of(runtime), timer_id)])
    return found


# -- definitions and calendars: versioned records -----------------------------------------------


def versioned_routes(prefix: str, noun: str, body: type[BaseModel], public_model: type[BaseModel],
                     listing: type[BaseModel], list_records: Callable, get_record: Callable, save: Callable,
                     delete: Callable, delete_summary: str) -> APIRouter:
    """List, create, read, replace (If-Match) and delete one kind of versioned record."""
    router = APIRouter(prefix=prefix, tags=[f"{noun}s"])

    def answer(row: dict, response: Response | None = None) -> BaseModel:
        if response is not None:
            tag(response, row["version"])
        return public_model(id=row["id"], version=row["version"], changed_at=row["changed_at"],
                            changed_by=row["changed_by"], **row["body"])

    @router.get("", response_model=listing, summary=f"{noun}s, latest versions")
    async def list_all(uow: UnitOfWorkDep) -> BaseModel:
        return listing(items=[answer(r) for r in await list_records(uow)])

    @router.post("", response_model=public_model, status_code=201, summary=f"Create a {noun}")
    async def create(item: body, uow: UnitOfWorkDep, response: Response, actor: Actor) -> BaseModel:
        row = await save(uow, item, actor=actor)
        response.headers["Location"] = f"{prefix}/{row['id']}"
        return answer(row, response)

    @router.get("/{ident}", response_model=public_model, summary=f"A {noun}, latest version")
    async def read(ident: Ident, uow: UnitOfWorkDep, response: Response) -> BaseModel:
        return answer(await get_record(uow, ident), response)

    @router.put("/{ident}", response_model=public_model,
                summary=f"Replace a {noun}: a new version; open timers keep theirs until a repair")
    async def replace(ident: Ident, item: body, uow: UnitOfWorkDep, response: Response, if_match: IfMatch,
                      actor: Actor) -> BaseModel:
        return answer(await save(uow, item, actor=actor, ident=ident, if_match=if_match), response)

    @router.delete("/{ident}", status_code=204, summary=delete_summary)
    async def remove(ident: Ident, uow: UnitOfWorkDep, if_match: IfMatch, actor: Actor) -> Response:
        await delete(uow, ident, actor=actor, if_match=if_match)
        return Response(status_code=204)

    return router


definitions_router = versioned_routes(
    "/definitions", "SLA definition", DefinitionBody, DefinitionPublic, DefinitionList, handlers.list_definitions,
    handlers.get_definition, handlers.save_definition, handlers.delete_definition,
    "Delete an SLA definition: it attaches nothing more; its open timers run on")
calendars_router = versioned_routes(
    "/calendars", "calendar", CalendarBody, CalendarPublic, CalendarList, handlers.list_calendars,
    handlers.get_calendar, handlers.save_calendar, handlers.delete_calendar, "Delete a calendar no SLA definition uses")


# -- repair and reports -------------------------------------------------------------------------------


@operations_router.post("/repair", response_model=RepairResult,
                        summary="Recompute open timers from their incidents' histories (after a definition or "
                                "calendar change)")
async def repair(body: RepairRequest, uow: UnitOfWorkDep, runtime: RuntimeDep) -> RepairResult:
    result = await handlers.repair(uow, catalog_of(runtime), body, runtime.settings.repair_batch_size)
    if (scheduler := runtime.extras.get("scheduler")) is not None:
        scheduler.wake()
    return result


@operations_router.get("/reports/compliance", response_model=ComplianceReport,
                       summary="% of timers completed in a period that met their target, grouped")
async def compliance(uow: UnitOfWorkDep, query: Annotated[ComplianceQuery, Query()]) -> ComplianceReport:
    return await handlers.compliance(uow, query)


@operations_router.get("/reports/at-risk", response_model=AtRiskList,
                       summary="Open timers past a warning threshold or breached, furthest along first")
async def at_risk(uow: UnitOfWorkDep, runtime: RuntimeDep, query: Annotated[AtRiskQuery, Query()]) -> AtRiskList:
    items = [t for t in publish_all(await handlers.at_risk(uow, catalog_of(runtime), query))
             if t.percent >= query.min_percent]
    return AtRiskList(items=sorted(items, key=lambda t: -t.percent))
