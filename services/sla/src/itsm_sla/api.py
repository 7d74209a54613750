"""The sla HTTP API (internal; the gateway re-exposes it under /api/v1/sla and composes timers
into incidents). Who acts comes in `X-Actor`, set by the gateway from the caller's JWT."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response

from itsm_contracts.api.sla import (
    AtRiskList, AtRiskQuery, CalendarBody, CalendarList, CalendarPublic, ComplianceQuery, ComplianceReport,
    ComplianceRow, DefinitionBody, DefinitionList, DefinitionPublic, RepairRequest, RepairResult, SegmentPublic,
    TimerList, TimerPublic,
)
from itsm_kit.errors import if_match_version, not_found
from itsm_kit.runtime import RuntimeDep, SessionDep
from itsm_sla import handlers
from itsm_sla.domain import Clock, Timer
from itsm_sla.scheduler import catalog_of
from itsm_sla.store import CatalogRepository, TimerRepository

timers_router = APIRouter(prefix="/timers", tags=["timers"])
definitions_router = APIRouter(prefix="/definitions", tags=["definitions"])
calendars_router = APIRouter(prefix="/calendars", tags=["calendars"])
operations_router = APIRouter(tags=["repair and reports"])

IfMatch = Annotated[str | None, Header(description="the version (ETag) you last read; a stale one is a 412")]
Actor = Annotated[str, Header(alias="x-actor", min_length=1, max_length=255)]


# -- timers -----------------------------------------------------------------------------------


def public(timer: Timer, clock: Clock, now: datetime) -> TimerPublic:
    elapsed = timer.elapsed(clock, now)
    segments = [SegmentPublic(state=s.state, started_at=s.start, ended_at=s.end, started_by=s.start_event,
                              ended_by=s.end_event, reason=s.reason, end_reason=s.end_reason,
                              business_seconds=clock.measure(s.start, s.end or max(now, s.start)).total_seconds())
                for s in timer.segments]
    return TimerPublic(
        id=timer.id, incident_id=timer.incident_id, kind=timer.kind, policy=timer.policy, priority=timer.priority,
        stage=timer.stage.value, started_at=timer.started_at, due_at=timer.due(clock, now),
        stopped_at=timer.stopped_at, breached=timer.is_breached(clock, now), elapsed_seconds=elapsed.total_seconds(),
        remaining_seconds=(timer.target - elapsed).total_seconds(), percent=timer.percent(clock, now),
        definition_id=timer.definition_id, definition_version=timer.definition_version, cycle=timer.cycle,
        calendar_id=timer.calendar_id, target_seconds=timer.target.total_seconds(), attached_at=timer.attached_at,
        breached_at=timer.breached_at, paused_seconds=timer.paused_for(now).total_seconds(),
        warning_thresholds=list(timer.thresholds), notified_percent=timer.notified_percent,
        escalation_group=timer.escalation_group, business_service=timer.business_service, segments=segments,
    )


async def publish_all(runtime, session, timers: list[Timer]) -> list[TimerPublic]:
    library = await catalog_of(runtime).clocks_for(session, timers)
    now = handlers.utcnow()
    return [public(t, library.clock(t.calendar_id, t.calendar_version), now) for t in timers]


@timers_router.get("", response_model=TimerList, summary="The SLA timers of an incident")
async def list_timers(incident_id: str, session: SessionDep, runtime: RuntimeDep) -> TimerList:
    found = await TimerRepository(session).for_incident(incident_id)
    return TimerList(items=await publish_all(runtime, session, found))


@timers_router.get("/{timer_id}", response_model=TimerPublic, summary="A timer with its segments")
async def get_timer(timer_id: str, session: SessionDep, runtime: RuntimeDep) -> TimerPublic:
    timer = await TimerRepository(session).get(timer_id)
    if timer is None:
        raise not_found("timer", timer_id)
    [found] = await publish_all(runtime, session, [timer])
    return found


# -- definitions ------------------------------------------------------------------------------------


def _definition(row: dict) -> DefinitionPublic:
    return DefinitionPublic(id=row["id"], version=row["version"], changed_at=row["changed_at"],
                            changed_by=row["changed_by"], **row["body"])


def _tagged(row: dict, response: Response) -> dict:
    response.headers["ETag"] = f'"{row["version"]}"'
    return row


@definitions_router.get("", response_model=DefinitionList, summary="SLA definitions, latest versions")
async def list_definitions(session: SessionDep) -> DefinitionList:
    return DefinitionList(items=[_definition(r) for r in await CatalogRepository(session).latest_definitions()])


@definitions_router.post("", response_model=DefinitionPublic, status_code=201, summary="Create an SLA definition")
async def create_definition(body: DefinitionBody, runtime: RuntimeDep, response: Response,
                            actor: Actor = "system") -> DefinitionPublic:
    async with runtime.transaction() as session:
        row = await handlers.save_definition(session, body, actor=actor)
    response.headers["Location"] = f"{definitions_router.prefix}/{row['id']}"
    return _definition(_tagged(row, response))


@definitions_router.get("/{definition_id}", response_model=DefinitionPublic)
async def get_definition(definition_id: str, session: SessionDep, response: Response) -> DefinitionPublic:
    row = await CatalogRepository(session).latest_definition(definition_id)
    if row is None:
        raise not_found("SLA definition", definition_id)
    return _definition(_tagged(row, response))


@definitions_router.put("/{definition_id}", response_model=DefinitionPublic,
                        summary="Replace a definition: a new version; open timers keep theirs until a repair")
async def replace_definition(definition_id: str, body: DefinitionBody, runtime: RuntimeDep, response: Response,
                             if_match: IfMatch = None, actor: Actor = "system") -> DefinitionPublic:
    async with runtime.transaction() as session:
        row = await handlers.save_definition(session, body, actor=actor, definition_id=definition_id,
                                             if_match=if_match_version(if_match, "an SLA definition"))
    return _definition(_tagged(row, response))


@definitions_router.delete("/{definition_id}", status_code=204,
                           summary="Delete a definition no timer ever ran by (else deactivate it)")
async def delete_definition(definition_id: str, runtime: RuntimeDep, if_match: IfMatch = None) -> Response:
    async with runtime.transaction() as session:
        await handlers.delete_definition(session, definition_id,
                                         if_match=if_match_version(if_match, "an SLA definition"))
    return Response(status_code=204)


# -- calendars ----------------------------------------------------------------------------------------


def _calendar(row: dict) -> CalendarPublic:
    return CalendarPublic(id=row["id"], version=row["version"], changed_at=row["changed_at"],
                          changed_by=row["changed_by"], **row["body"])


@calendars_router.get("", response_model=CalendarList, summary="Business calendars, latest versions")
async def list_calendars(session: SessionDep) -> CalendarList:
    return CalendarList(items=[_calendar(r) for r in await CatalogRepository(session).latest_calendars()])


@calendars_router.post("", response_model=CalendarPublic, status_code=201, summary="Create a business calendar")
async def create_calendar(body: CalendarBody, runtime: RuntimeDep, response: Response,
                          actor: Actor = "system") -> CalendarPublic:
    async with runtime.transaction() as session:
        row = await handlers.save_calendar(session, body, actor=actor)
    response.headers["Location"] = f"{calendars_router.prefix}/{row['id']}"
    return _calendar(_tagged(row, response))


@calendars_router.get("/{calendar_id}", response_model=CalendarPublic)
async def get_calendar(calendar_id: str, session: SessionDep, response: Response) -> CalendarPublic:
    row = await CatalogRepository(session).latest_calendar(calendar_id)
    if row is None:
        raise not_found("calendar", calendar_id)
    return _calendar(_tagged(row, response))


@calendars_router.put("/{calendar_id}", response_model=CalendarPublic,
                      summary="Replace a calendar: a new version; open timers keep theirs until a repair")
async def replace_calendar(calendar_id: str, body: CalendarBody, runtime: RuntimeDep, response: Response,
                           if_match: IfMatch = None, actor: Actor = "system") -> CalendarPublic:
    async with runtime.transaction() as session:
        row = await handlers.save_calendar(session, body, actor=actor, calendar_id=calendar_id,
                                           if_match=if_match_version(if_match, "a calendar"))
    return _calendar(_tagged(row, response))


@calendars_router.delete("/{calendar_id}", status_code=204, summary="Delete a calendar no definition uses")
async def delete_calendar(calendar_id: str, runtime: RuntimeDep, if_match: IfMatch = None,
                          actor: Actor = "system") -> Response:
    async with runtime.transaction() as session:
        await handlers.delete_calendar(session, calendar_id, actor=actor,
                                       if_match=if_match_version(if_match, "a calendar"))
    return Response(status_code=204)


# -- repair and reports -------------------------------------------------------------------------------


@operations_router.post("/repair", response_model=RepairResult,
                        summary="Recompute open timers from their incidents' histories (after a definition or "
                                "calendar change)")
async def repair(body: RepairRequest, runtime: RuntimeDep) -> RepairResult:
    result = RepairResult(incidents=0, timers_started=0, timers_changed=0, timers_cancelled=0)
    after, batch = "", runtime.settings.repair_batch_size
    while True:
        async with runtime.sessions() as session:
            ids = await TimerRepository(session).incidents_with_open_timers(
                after=after, limit=batch, incident_ids=body.incident_ids, definition_id=body.definition_id,
                calendar_id=body.calendar_id)
        if not ids:
            break
        async with runtime.transaction() as session:
            started, changed, cancelled = await handlers.repair_incidents(session, runtime.outbox,
                                                                          catalog_of(runtime), ids,
                                                                          handlers.utcnow())
        result.incidents += len(ids)
        result.timers_started += started
        result.timers_changed += changed
        result.timers_cancelled += cancelled
        after = ids[-1]
    if (scheduler := runtime.extras.get("scheduler")) is not None:
        scheduler.wake()
    return result


@operations_router.get("/reports/compliance", response_model=ComplianceReport,
                       summary="% of timers completed in a period that met their target, grouped")
async def compliance(session: SessionDep, query: Annotated[ComplianceQuery, Query()]) -> ComplianceReport:
    group_by = list(dict.fromkeys(query.group_by))
    rows = await TimerRepository(session).compliance(
        start=query.from_, before=query.before, group_by=group_by, period=query.period, kind=query.kind,
        priorities=query.priority, business_service=query.business_service)

    def row(values: dict) -> ComplianceRow:
        total, met = values["total"], values["met"]
        keys = {k: v for k, v in values.items() if k not in ("total", "met")}
        return ComplianceRow(**keys, total=total, met=met, breached=total - met,
                             compliance_percent=round(100 * met / total, 2) if total else 100.0)

    overall = row({"total": sum(r["total"] for r in rows), "met": sum(r["met"] for r in rows)})
    return ComplianceReport(from_=query.from_, before=query.before, group_by=group_by, rows=[row(r) for r in rows],
                            overall=overall)


@operations_router.get("/reports/at-risk", response_model=AtRiskList,
                       summary="Open timers past a warning threshold or breached, furthest along first")
async def at_risk(session: SessionDep, runtime: RuntimeDep, query: Annotated[AtRiskQuery, Query()]) -> AtRiskList:
    found = await TimerRepository(session).at_risk(limit=query.limit, kind=query.kind, priorities=query.priority,
                                                   business_service=query.business_service)
    items = [t for t in await publish_all(runtime, session, found) if t.percent >= query.min_percent]
    return AtRiskList(items=sorted(items, key=lambda t: -t.percent))
