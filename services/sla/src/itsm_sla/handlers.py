"""Use cases: incident events in, timers moved; alarms fired; definitions, calendars, repair.

Incident events come a run at a time, `(cause, data)` pairs in the order they arrived,
with exactly the effects of taking them one at a time: whatever the run's length, its
reads and writes are a few statements (history, timers locked, the catalog; then one
write per table and one outbox insert). Each event takes its place in its incident's
history by its sequence, whenever it arrives (see domain.history.arrive).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

from itsm_contracts import REGISTRY, CloudEvent, EventData
from itsm_contracts.api.sla import (
    AtRiskQuery, CalendarBody, ComplianceQuery, ComplianceReport, ComplianceRow, DefinitionBody, RepairRequest,
    RepairResult,
)
from itsm_contracts.events.cmdb import CiCreated, CiUpdated
from itsm_contracts.events.incidents import IncidentEvent
from itsm_kit.clock import utcnow
from itsm_kit.domain import Conflict, InvalidValue
from itsm_kit.errors import check_version, found
from itsm_kit.unit_of_work import UnitOfWork
from itsm_sla.catalog import Catalog, body_of, calendar_body, calendar_of, definition_of
from itsm_sla.domain import ALWAYS, Clock, Engine, Fact, Timer, arrive, fact_of, ordered, steps
from itsm_sla.domain import requests as request_timers
from itsm_sla.store import CatalogRepository, HistoryRepository, TimerRepository, Versions

Run = Sequence[tuple[CloudEvent, EventData]]
Clocked = tuple[Timer, Clock]  # a timer with the clock it runs by, to show it


def _facts(rows: Iterable[dict]) -> list[Fact]:
    """Kept incident events as facts again, read with the contract they were written with."""
    found = []
    for row in rows:
        model = REGISTRY.get(row["dataschema"])
        data = model.model_validate(row["data"]) if model is not None else row["data"]
        if (fact := fact_of(row["event_id"], row["type"], data, row["sequence"])) is not None:
            found.append(fact)
    return found


async def take_incident_events(uow: UnitOfWork, catalog: Catalog, run: Run) -> list[Timer]:
    """Keep the events in each incident's history, and move its timers on by the steps they add.

    Returns the timers written (for the scheduler to know what is due)."""
    new: dict[str, list[tuple[CloudEvent, Fact]]] = {}
    rows = []
    for cause, data in run:
        if not isinstance(data, IncidentEvent):
            continue
        # The data as it came (read back through its contract): serialising the model again cost 2.5 % of the service.
        rows.append({"incident_id": data.incident_id, "event_id": cause.id, "type": cause.type,
                     "dataschema": cause.dataschema, "sequence": cause.sequence, "data": cause.data})
        if (fact := fact_of(cause.id, cause.type, data, cause.sequence)) is not None:
            new.setdefault(data.incident_id, []).append((cause, fact))
    if not rows:
        return []
    async with uow:
        history = HistoryRepository(uow.session)
        kept = await history.of(new)
        await history.add_many(rows)
        repo = TimerRepository(uow.session)
        timers = await repo.for_incidents(new, for_update=True)
        loaded = {t.id: t.version for listed in timers.values() for t in listed}
        known_facts = {i: _facts(kept.get(i, [])) for i in new}
        seen = {f.event_id for facts in known_facts.values() for f in facts}
        affected = {f.changes.get("affected_ci") for facts in known_facts.values() for f in facts}
        affected |= {f.changes.get("affected_ci") for pairs in new.values() for _, f in pairs}
        library = await catalog.library(uow.session, timers=[t for listed in timers.values() for t in listed],
                                        affected_cis=affected)
        engine = Engine(library)
        so_far = {i: (ordered(known), None) for i, known in known_facts.items()}  # each incident's facts and steps
        fresh = {fact.event_id: fact for pairs in new.values() for _, fact in pairs if fact.event_id not in seen}
        now = utcnow()
        for cause, data in run:  # in the run's order, as one event at a time would have done
            if (fact := fresh.pop(cause.id, None)) is None:
                continue
            facts, known_steps = so_far[data.incident_id]
            arrival = arrive(facts, fact, known_steps)
            so_far[data.incident_id] = (arrival.facts, arrival.history)
            listed = timers.setdefault(data.incident_id, [])
            engine.take(data.incident_id, listed, arrival, now)
            uow.add(*listed)
            uow.caused_by(cause)
        written = [t for listed in timers.values() for t in listed if loaded.get(t.id) != t.version]
        await repo.add_many([t for t in written if t.id not in loaded])
        await repo.save_many([t for t in written if t.id in loaded])
        await uow.commit()
    return written


async def take_cis(uow: UnitOfWork, run: Run) -> None:
    """CMDB CIs, by id and name, with their class (for definitions that apply by CI class)."""
    created = {data.ci_id: {"ci_id": data.ci_id, "name": data.name, "ci_class": data.ci_class}
               for _, data in run if isinstance(data, CiCreated)}
    renamed = {data.ci_id: data.changes["name"] for _, data in run
               if isinstance(data, CiUpdated) and data.changes.get("name")}
    async with uow:
        repo = CatalogRepository(uow.session)
        await repo.upsert_cis(list(created.values()))
        await repo.rename_cis(renamed)
        await uow.commit()


# -- requested items (issue 17) ---------------------------------------------------------------------


async def take_request_events(uow: UnitOfWork, run: Run) -> list[Timer]:
    """Start and move requested items' timers by request events, in the run's order (see domain.requests).

    Returns the timers written (for the scheduler to know what is due)."""
    items = {item_id for _, data in run for item_id in request_timers.items_of(data)}
    if not items:
        return []
    async with uow:
        repo = TimerRepository(uow.session)
        timers = await repo.for_request_items(items, for_update=True)
        loaded = {t.id: t.version for listed in timers.values() for t in listed}
        for cause, data in run:
            request_timers.take(timers, data, cause.id, cause.time)
            for item_id in request_timers.items_of(data):
                uow.add(*timers.get(item_id, []))
            uow.caused_by(cause)
        written = [t for listed in timers.values() for t in listed if loaded.get(t.id) != t.version]
        await repo.add_many([t for t in written if t.id not in loaded])
        await repo.save_many([t for t in written if t.id in loaded])
        await uow.commit()
    return written


# -- the scheduler -------------------------------------------------------------------------------


async def next_alarm_at(uow: UnitOfWork) -> datetime | None:
    async with uow:
        return await TimerRepository(uow.session).next_alarm_at()


async def fire_alarms(uow: UnitOfWork, catalog: Catalog, now: datetime, limit: int, *,
                      announced: list[EventData] | None = None) -> int:
    """Announce the warnings and breaches due by `now` (one batch); returns how many timers it took,
    and adds what it announced to `announced`.

    The rows are locked SKIP LOCKED and written with their events in this transaction, so
    replicas share the work and a threshold is announced once, even across restarts."""
    async with uow:
        repo = TimerRepository(uow.session)
        due = await repo.due_alarms(now, limit)
        if not due:
            return 0
        library = await catalog.clocks_for(uow.session, due)
        for timer in due:
            event = timer.alarm(library.clock(timer.calendar_id, timer.calendar_version), now)
            if event is not None and announced is not None:
                announced.append(event)
        await repo.save_many(due)
        uow.add(*due)
        await uow.commit()
    return len(due)


# -- timers, as shown ------------------------------------------------------------------------------


async def _clocked(uow: UnitOfWork, catalog: Catalog, timers: list[Timer]) -> list[Clocked]:
    library = await catalog.clocks_for(uow.session, timers)
    return [(t, library.clock(t.calendar_id, t.calendar_version)) for t in timers]


async def list_timers(uow: UnitOfWork, catalog: Catalog, incident_id: str) -> list[Clocked]:
    async with uow:
        return await _clocked(uow, catalog, await TimerRepository(uow.session).for_incident(incident_id))


async def list_request_item_timers(uow: UnitOfWork, item_id: str) -> list[Clocked]:
    """A requested item's timers (24x7: they run by no calendar)."""
    async with uow:
        found = await TimerRepository(uow.session).for_request_items([item_id])
    return [(t, ALWAYS) for t in found.get(item_id, [])]


async def get_timer(uow: UnitOfWork, catalog: Catalog, timer_id: str) -> Clocked:
    async with uow:
        timer = found(await TimerRepository(uow.session).get(timer_id), "timer", timer_id)
        [clocked] = await _clocked(uow, catalog, [timer])
        return clocked


async def at_risk(uow: UnitOfWork, catalog: Catalog, query: AtRiskQuery) -> list[Clocked]:
    """Open timers past a warning threshold or breached, those due soonest first (at most `query.limit`)."""
    async with uow:
        found = await TimerRepository(uow.session).at_risk(limit=query.limit, kind=query.kind,
                                                           priorities=query.priority,
                                                           business_service=query.business_service)
        return await _clocked(uow, catalog, found)


async def compliance(uow: UnitOfWork, query: ComplianceQuery) -> ComplianceReport:
    group_by = list(dict.fromkeys(query.group_by))
    async with uow:
        rows = await TimerRepository(uow.session).compliance(
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


# -- definitions and calendars ----------------------------------------------------------------
# Each change writes a new version; timers keep the version they run by until a repair.


async def _latest_all(uow: UnitOfWork, versions: Callable[[CatalogRepository], Versions]) -> list[dict]:
    async with uow:
        return await versions(CatalogRepository(uow.session)).latest_all()


async def _latest(uow: UnitOfWork, versions: Callable[[CatalogRepository], Versions], what: str,
                  ident: str) -> dict:
    async with uow:
        return found(await versions(CatalogRepository(uow.session)).latest(ident), what, ident)


async def list_definitions(uow: UnitOfWork) -> list[dict]:
    """The latest version of every SLA definition not deleted."""
    return await _latest_all(uow, lambda repo: repo.definitions)


async def get_definition(uow: UnitOfWork, ident: str) -> dict:
    return await _latest(uow, lambda repo: repo.definitions, "SLA definition", ident)


async def list_calendars(uow: UnitOfWork) -> list[dict]:
    """The latest version of every calendar not deleted."""
    return await _latest_all(uow, lambda repo: repo.calendars)


async def get_calendar(uow: UnitOfWork, ident: str) -> dict:
    return await _latest(uow, lambda repo: repo.calendars, "calendar", ident)


async def _next_version(versions: Versions, what: str, ident: str | None, if_match: int | None) -> tuple[dict, int]:
    """The current row (locked) and the version a change writes; a new record starts at 1."""
    if ident is None:
        return {}, 1
    current = found(await versions.latest(ident, for_update=True), what, ident)
    check_version(what, ident, current["version"], if_match)
    return current, current["version"] + 1


def _row(ident: str, version: int, name: str, body: dict, actor: str, **columns) -> dict:
    return {"id": ident, "version": version, "name": name, "deleted": False, "body": body, "changed_at": utcnow(),
            "changed_by": actor, **columns}


def _deleted(current: dict, version: int, actor: str) -> dict:
    """The version that deletes a record: the last one, marked deleted (versions are never erased)."""
    return {**current, "version": version, "deleted": True, "changed_at": utcnow(), "changed_by": actor}


async def save_definition(uow: UnitOfWork, body: DefinitionBody, *, actor: str, ident: str | None = None,
                          if_match: int | None = None) -> dict:
    async with uow:
        repo = CatalogRepository(uow.session)
        _, version = await _next_version(repo.definitions, "SLA definition", ident, if_match)
        definition = definition_of(ident or str(uuid.uuid4()), version, body)
        if definition.calendar_id is not None and await repo.calendars.latest(definition.calendar_id) is None:
            raise InvalidValue(f"the calendar {definition.calendar_id} does not exist",
                               calendar_id=definition.calendar_id)
        row = _row(definition.id, version, definition.name, body_of(definition), actor, active=definition.active)
        await repo.definitions.add(row)
        await uow.commit()
    return row


async def delete_definition(uow: UnitOfWork, ident: str, *, actor: str, if_match: int | None = None) -> None:
    """Gone from lists and attaches nothing more; its open timers run on by their version (as when inactive)."""
    async with uow:
        repo = CatalogRepository(uow.session)
        current, version = await _next_version(repo.definitions, "SLA definition", ident, if_match)
        await repo.definitions.add(_deleted(current, version, actor))
        await uow.commit()


async def save_calendar(uow: UnitOfWork, body: CalendarBody, *, actor: str, ident: str | None = None,
                        if_match: int | None = None) -> dict:
    calendar_of(body)  # refuses bad hours, an unknown timezone
    async with uow:
        repo = CatalogRepository(uow.session)
        _, version = await _next_version(repo.calendars, "calendar", ident, if_match)
        row = _row(ident or str(uuid.uuid4()), version, body.name, calendar_body(body), actor)
        await repo.calendars.add(row)
        await uow.commit()
    return row


async def delete_calendar(uow: UnitOfWork, ident: str, *, actor: str, if_match: int | None = None) -> None:
    """Only a calendar no definition uses; timers running by its versions keep them."""
    async with uow:
        repo = CatalogRepository(uow.session)
        current, version = await _next_version(repo.calendars, "calendar", ident, if_match)
        if users := await repo.calendar_in_use(ident):
            raise Conflict(f"SLA definitions use calendar {ident}: {', '.join(users)}", definitions=users)
        await repo.calendars.add(_deleted(current, version, actor))
        await uow.commit()


# -- repair --------------------------------------------------------------------------------------


async def repair(uow: UnitOfWork, catalog: Catalog, request: RepairRequest, batch: int) -> RepairResult:
    """Recompute the open timers of the incidents `request` selects, `batch` incidents per transaction."""
    result = RepairResult(incidents=0, timers_started=0, timers_changed=0, timers_cancelled=0)
    after = ""
    while True:
        async with uow:
            ids = await TimerRepository(uow.session).incidents_with_open_timers(
                after=after, limit=batch, incident_ids=request.incident_ids, definition_id=request.definition_id,
                calendar_id=request.calendar_id)
        if not ids:
            return result
        started, changed, cancelled = await repair_incidents(uow, catalog, ids, utcnow())
        result.incidents += len(ids)
        result.timers_started += started
        result.timers_changed += changed
        result.timers_cancelled += cancelled
        after = ids[-1]


async def repair_incidents(uow: UnitOfWork, catalog: Catalog, incident_ids: list[str],
                           now: datetime) -> tuple[int, int, int]:
    """Recompute these incidents' open timers from their histories (one transaction); returns
    how many timers were started, changed and cancelled."""
    async with uow:
        repo = TimerRepository(uow.session)
        timers = await repo.for_incidents(incident_ids, for_update=True)
        histories = await HistoryRepository(uow.session).of(incident_ids)
        facts = {i: _facts(histories.get(i, [])) for i in incident_ids}
        affected = {f.changes.get("affected_ci") for listed in facts.values() for f in listed}
        library = await catalog.library(uow.session, timers=[t for listed in timers.values() for t in listed],
                                        affected_cis=affected)
        started = changed = cancelled = 0
        new, updated = [], []
        for incident_id in incident_ids:
            stored = timers.get(incident_id, [])
            outcome = Engine(library).replay(incident_id, stored, steps(ordered(facts[incident_id])), now)
            new += outcome.started
            updated += [*outcome.changed, *outcome.cancelled]
            uow.add(*outcome.timers)
            started, changed, cancelled = (started + len(outcome.started), changed + len(outcome.changed),
                                           cancelled + len(outcome.cancelled))
        await repo.add_many(new)
        await repo.save_many(updated)
        await uow.commit()
    return started, changed, cancelled
