"""The sla HTTP API (internal; the gateway re-exposes it under /api/v1/sla and composes timers
into incidents). Who acts comes in `X-Actor`, set by the gateway from the caller's JWT.

No `from __future__ import annotations` here: the versioned routes' body types are
variables that FastAPI must see as classes.
"""

from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response
from pydantic import BaseModel

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
from itsm_sla.store import CatalogRepository, TimerRepository, Versions

timers_router = APIRouter(prefix="/timers", tags=["timers"])
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


# -- definitions and calendars: versioned records -----------------------------------------------


def versioned_routes(prefix: str, noun: str, body: type[BaseModel], public_model: type[BaseModel],
                     listing: type[BaseModel], versions: Callable[[CatalogRepository], Versions], save: Callable,
                     delete: Callable, delete_summary: str) -> APIRouter:
    """List, create, read, replace (If-Match) and delete one kind of versioned record."""
    router = APIRouter(prefix=prefix, tags=[f"{noun}s"])

    def answer(row: dict, response: Response | None = None) -> BaseModel:
        if response is not None:
            response.headers["ETag"] = f'"{row["version"]}"'
        return public_model(id=row["id"], version=row["version"], changed_at=row["changed_at"],
                            changed_by=row["changed_by"], **row["body"])

    @router.get("", response_model=listing, summary=f"{noun}s, latest versions")
    async def list_all(session: SessionDep) -> BaseModel:
        return listing(items=[answer(r) for r in await versions(CatalogRepository(session)).latest_all()])

    @router.post("", response_model=public_model, status_code=201, summary=f"Create a {noun}")
    async def create(item: body, runtime: RuntimeDep, response: Response, actor: Actor = "system") -> BaseModel:
        async with runtime.transaction() as session:
            row = await save(session, item, actor=actor)
        response.headers["Location"] = f"{prefix}/{row['id']}"
        return answer(row, response)

    @router.get("/{ident}", response_model=public_model, summary=f"A {noun}, latest version")
    async def read(ident: str, session: SessionDep, response: Response) -> BaseModel:
        row = await versions(CatalogRepository(session)).latest(ident)
        if row is None:
            raise not_found(noun, ident)
        return answer(row, response)

    @router.put("/{ident}", response_model=public_model,
                summary=f"Replace a {noun}: a new version; open timers keep theirs until a repair")
    async def replace(ident: str, item: body, runtime: RuntimeDep, response: Response, if_match: IfMatch = None,
                      actor: Actor = "system") -> BaseModel:
        async with runtime.transaction() as session:
            row = await save(session, item, actor=actor, ident=ident, if_match=if_match_version(if_match, f"a {noun}"))
        return answer(row, response)

    @router.delete("/{ident}", status_code=204, summary=delete_summary)
    async def remove(ident: str, runtime: RuntimeDep, if_match: IfMatch = None, actor: Actor = "system") -> Response:
        async with runtime.transaction() as session:
            await delete(session, ident, actor=actor, if_match=if_match_version(if_match, f"a {noun}"))
        return Response(status_code=204)

    return router


definitions_router = versioned_routes(
    "/definitions", "SLA definition", DefinitionBody, DefinitionPublic, DefinitionList,
    lambda repo: repo.definitions, handlers.save_definition, handlers.delete_definition,
    "Delete an SLA definition: it attaches nothing more; its open timers run on")
calendars_router = versioned_routes(
    "/calendars", "calendar", CalendarBody, CalendarPublic, CalendarList, lambda repo: repo.calendars,
    handlers.save_calendar, handlers.delete_calendar, "Delete a calendar no SLA definition uses")


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
