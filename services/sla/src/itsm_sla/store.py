"""The sla database: definitions and calendars (versioned), incident history, CIs, timers.

- `sla_definitions` and `sla_calendars` keep every version (immutable rows); the latest is
  the one in force, and timers name the version they run by.
- `incident_events` is every incident event sla received (`id`: arrival order), read back in
  the order they happened (`sequence`): what repair and retroactive starts replay.
- `cis` maps CMDB ids and names to classes, for definitions that apply by CI class.
- `timers` carry their segments (JSONB) and, for the scheduler, the next alarm instant; each runs
  for an incident (`incident_id`) or, since issue 17, a requested item (`record_type` 'request_item',
  `request_item_id`). Reports (compliance, at risk) are the incidents'.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ARRAY, BigInteger, Boolean, Column, DateTime, Index, Integer, Interval, MetaData, String, Table, bindparam, func,
    insert, literal, or_, select, text, tuple_, union_all, update,
)
from sqlalchemy.dialects.postgresql import JSONB, distinct_on
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from itsm_kit.db import InsertNew, among, insert_rows
from itsm_kit.records import columns_of
from itsm_sla.domain import Segment, Stage, Timer

metadata = MetaData()

OPEN_STAGES = ("in_progress", "paused")
_OPEN_SQL = "stage IN ('in_progress', 'paused')"



def _versioned(name: str, *columns: Column) -> Table:
    """Every version of a configuration record, never changed once written: the latest is in force,
    and deleting writes a last version marked deleted (timers may still run by the earlier ones)."""
    return Table(
        name,
        metadata,
        Column("id", String(36), primary_key=True),
        Column("version", Integer, primary_key=True),
        Column("name", String(200), nullable=False),
        *columns,
        Column("deleted", Boolean, nullable=False, server_default="false"),
        Column("body", JSONB, nullable=False),
        Column("changed_at", DateTime(timezone=True), nullable=False),
        Column("changed_by", String(255), nullable=False),
    )


definitions = _versioned("sla_definitions", Column("active", Boolean, nullable=False))
calendars = _versioned("sla_calendars")

incident_events = Table(
    "incident_events",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),  # arrival order
    Column("incident_id", String(36), nullable=False),
    Column("event_id", String(64), nullable=False),
    Column("type", String(100), nullable=False),
    Column("dataschema", String(200), nullable=False),
    Column("sequence", BigInteger, nullable=False),
    Column("data", JSONB, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("incident_events_by_incident", "incident_id", "id"),
    Index("incident_events_by_event", "event_id", unique=True),
)

cis = Table(
    "cis",
    metadata,
    Column("ci_id", String(255), primary_key=True),
    Column("name", String(255), nullable=False),
    Column("ci_class", String(100), nullable=False),
    Index("cis_by_name", "name"),
)

timers = Table(
    "timers",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("incident_id", String(36)),  # null for a requested item's timer
    Column("kind", String(20), nullable=False),
    Column("policy", String(200), nullable=False),
    Column("priority", Integer, nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("due_at", DateTime(timezone=True)),
    Column("stage", String(20), nullable=False),
    Column("stopped_at", DateTime(timezone=True)),
    Column("breached", Boolean, nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("definition_id", String(36), nullable=False),
    Column("definition_version", Integer, nullable=False),
    Column("cycle", Integer, nullable=False),
    Column("business_service", String(255)),
    Column("target", Interval, nullable=False),
    Column("calendar_id", String(36)),
    Column("calendar_version", Integer),
    Column("thresholds", ARRAY(Integer), nullable=False),
    Column("escalation_group", String(100)),
    Column("attached_at", DateTime(timezone=True), nullable=False),
    Column("segments", JSONB, nullable=False),
    Column("breached_at", DateTime(timezone=True)),
    Column("notified_percent", Integer, nullable=False),
    Column("next_alarm_at", DateTime(timezone=True)),
    # issue 17 (requested items' timers; migration 0004)
    Column("record_type", String(20), nullable=False, server_default="incident"),
    Column("request_item_id", String(36)),
    Column("request_id", String(36)),
    Column("record_number", String(40)),
    Index("timers_by_request_item", "request_item_id", postgresql_where=text("request_item_id IS NOT NULL")),
    Index("timers_by_incident", "incident_id"),
    Index("timers_by_definition", "definition_id"),
    # What the scheduler reads: the next alarm of every timer that has one.
    Index("timers_alarms", "next_alarm_at", postgresql_where=text("next_alarm_at IS NOT NULL")),
    Index("timers_open", "incident_id", postgresql_where=text(_OPEN_SQL)),
    Index("timers_completed", "stopped_at", postgresql_where=text("stage = 'completed'")),
    Index("timers_at_risk", "due_at",
          postgresql_where=text(f"{_OPEN_SQL} AND (notified_percent > 0 OR breached)")),
)

_FIELDS = [f.name for f in dataclasses.fields(Timer) if f.name != "events"]
_CHANGEABLE = [name for name in _FIELDS if name != "id"]
_OF_INCIDENTS = among(timers.c.incident_id, "incident_ids")
_OF_ITEMS = among(timers.c.request_item_id, "item_ids")
_INCIDENTS_ONLY = timers.c.record_type == "incident"
_SAVE = update(timers).where(timers.c.id == bindparam("b_id")).values({n: bindparam(n) for n in _CHANGEABLE})


def _to_timer(row) -> Timer:
    values = columns_of(row, _FIELDS)
    values["stage"] = Stage(values["stage"])
    values["thresholds"] = tuple(values["thresholds"])
    values["segments"] = [Segment.from_json(s) for s in values["segments"]]
    return Timer(**values)


def _to_row(timer: Timer) -> dict[str, Any]:
    row = {name: getattr(timer, name) for name in _FIELDS}
    row["stage"] = timer.stage.value
    row["thresholds"] = list(timer.thresholds)
    row["segments"] = [s.to_json() for s in timer.segments]
    return row


class TimerRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def for_incident(self, incident_id: str) -> list[Timer]:
        return (await self.for_incidents([incident_id])).get(incident_id, [])

    async def for_incidents(self, incident_ids: Iterable[str], *, for_update: bool = False) -> dict[str, list[Timer]]:
        """The timers of each of these incidents (those with any), each incident's in start order.
        Locked in id order, so that the consumer and the scheduler never deadlock."""
        query = select(timers).where(_OF_INCIDENTS)
        if for_update:
            query = query.order_by(timers.c.id).with_for_update()
        rows = await self.session.execute(query, {"incident_ids": sorted(set(incident_ids))})
        found: dict[str, list[Timer]] = {}
        for row in rows:
            timer = _to_timer(row)
            found.setdefault(timer.incident_id, []).append(timer)
        for listed in found.values():
            listed.sort(key=lambda t: (t.started_at, t.kind != "response", t.definition_id, t.cycle))
        return found

    async def for_request_items(self, item_ids: Iterable[str], *, for_update: bool = False) -> dict[str, list[Timer]]:
        """The timers of each of these requested items (those with any), response first; locked in id order."""
        query = select(timers).where(_OF_ITEMS)
        if for_update:
            query = query.order_by(timers.c.id).with_for_update()
        found: dict[str, list[Timer]] = {}
        for row in await self.session.execute(query, {"item_ids": sorted(set(item_ids))}):
            timer = _to_timer(row)
            found.setdefault(timer.request_item_id, []).append(timer)
        for listed in found.values():
            listed.sort(key=lambda t: (t.kind != "response", t.started_at))
        return found

    async def get(self, timer_id: str) -> Timer | None:
        row = (await self.session.execute(select(timers).where(timers.c.id == timer_id))).first()
        return _to_timer(row) if row else None

    async def add_many(self, new: Collection[Timer]) -> None:
        await insert_rows(self.session, timers, [_to_row(t) for t in new])  # a storm's run: COPY

    async def save_many(self, changed: Collection[Timer]) -> None:
        if changed:
            await self.session.execute(_SAVE, [{"b_id": t.id, **{k: v for k, v in _to_row(t).items() if k != "id"}}
                                               for t in changed])

    # -- the scheduler --------------------------------------------------------------------------

    async def due_alarms(self, now: datetime, limit: int) -> list[Timer]:
        """Timers with an alarm due by `now`, locked; rows another replica holds are skipped."""
        rows = await self.session.execute(
            select(timers).where(timers.c.next_alarm_at <= now).order_by(timers.c.next_alarm_at)
            .limit(limit).with_for_update(skip_locked=True)
        )
        return [_to_timer(r) for r in rows]

    async def next_alarm_at(self) -> datetime | None:
        return await self.session.scalar(select(func.min(timers.c.next_alarm_at)))

    # -- repair and reports ---------------------------------------------------------------------

    async def incidents_with_open_timers(self, *, after: str, limit: int, incident_ids: list[str] | None = None,
                                         definition_id: str | None = None, calendar_id: str | None = None) -> list[str]:
        query = select(timers.c.incident_id).distinct().where(timers.c.stage.in_(OPEN_STAGES),
                                                              timers.c.incident_id > after)
        if incident_ids is not None:
            query = query.where(timers.c.incident_id.in_(incident_ids))
        if definition_id is not None:
            query = query.where(timers.c.definition_id == definition_id)
        if calendar_id is not None:
            query = query.where(timers.c.calendar_id == calendar_id)
        return list(await self.session.scalars(query.order_by(timers.c.incident_id).limit(limit)))

    async def compliance(self, *, start: datetime, before: datetime, group_by: list[str], period: str,
                         kind: str | None, priorities: list[int], business_service: str | None) -> list[dict]:
        c = timers.c
        columns = {"priority": [c.priority], "business_service": [c.business_service],
                   "definition": [c.definition_id, c.policy], "kind": [c.kind],
                   "period": [func.date_trunc(period, c.stopped_at, "UTC").label("period_start")]}
        keys = [col for name in group_by for col in columns[name]]
        query = select(*keys, func.count().label("total"), func.count().filter(c.breached.is_(False)).label("met"))
        query = query.where(c.stage == Stage.COMPLETED.value, c.stopped_at >= start, c.stopped_at < before,
                            _INCIDENTS_ONLY)
        if kind:
            query = query.where(c.kind == kind)
        if priorities:
            query = query.where(c.priority.in_(priorities))
        if business_service is not None:
            query = query.where(c.business_service == business_service)
        if keys:
            query = query.group_by(*keys).order_by(*keys)
        return [dict(r._mapping) for r in await self.session.execute(query)]

    async def at_risk(self, *, limit: int, kind: str | None, priorities: list[int],
                      business_service: str | None) -> list[Timer]:
        c = timers.c
        query = select(timers).where(c.stage.in_(OPEN_STAGES), or_(c.notified_percent > 0, c.breached), _INCIDENTS_ONLY)
        if kind:
            query = query.where(c.kind == kind)
        if priorities:
            query = query.where(c.priority.in_(priorities))
        if business_service is not None:
            query = query.where(c.business_service == business_service)
        rows = await self.session.execute(query.order_by(c.due_at.asc().nulls_last(), c.id).limit(limit))
        return [_to_timer(r) for r in rows]


# One statement a run (an INSERT a row cost PostgreSQL 16 us each, 8,000 in an alert storm of 10,000); unnest keeps
# the rows' order, and the ids (arrival order) are drawn in it.
_KEEP_EVENTS = InsertNew(incident_events, ("incident_id", "event_id", "type", "dataschema", "sequence", "data"),
                         key=["event_id"])


class HistoryRepository:
    """The incident events sla received, per incident, in the order they happened (by sequence;
    events of one sequence, as a migration's baseline, in arrival order)."""

    def __init__(self, session: AsyncSession):
        self.session = session

    async def of(self, incident_ids: Iterable[str]) -> dict[str, list[dict]]:
        rows = await self.session.execute(
            select(incident_events.c.incident_id, incident_events.c.event_id, incident_events.c.type,
                   incident_events.c.dataschema, incident_events.c.sequence, incident_events.c.data)
            .where(among(incident_events.c.incident_id, "ids"))
            .order_by(incident_events.c.incident_id, incident_events.c.sequence, incident_events.c.id),
            {"ids": sorted(set(incident_ids))},
        )
        found: dict[str, list[dict]] = {}
        for r in rows:
            found.setdefault(r.incident_id, []).append(dict(r._mapping))
        return found

    async def add_many(self, rows: list[dict]) -> None:
        """Rows in arrival order; an event already kept (a redelivery) is not kept twice."""
        await _KEEP_EVENTS(self.session, rows)


class Versions:
    """The rows of one versioned table (definitions or calendars)."""

    def __init__(self, session: AsyncSession, table: Table):
        self.session, self.table = session, table

    async def latest_all(self) -> list[dict]:
        """The latest version of each record that is not deleted."""
        rows = await self.session.execute(
            select(self.table).ext(distinct_on(self.table.c.id)).order_by(self.table.c.id, self.table.c.version.desc()))
        return [dict(r._mapping) for r in rows if not r.deleted]

    async def latest(self, ident: str, *, for_update: bool = False) -> dict | None:
        query = select(self.table).where(self.table.c.id == ident).order_by(self.table.c.version.desc()).limit(1)
        row = (await self.session.execute(query.with_for_update() if for_update else query)).first()
        return dict(row._mapping) if row and not row.deleted else None

    async def of(self, keys: Collection[tuple[str, int]]) -> list[dict]:
        """These (id, version) versions, deleted records' included."""
        rows = await self.session.execute(
            select(self.table).where(tuple_(self.table.c.id, self.table.c.version).in_(list(keys))))
        return [dict(r._mapping) for r in rows]

    async def add(self, row: dict) -> None:
        await self.session.execute(insert(self.table).values(row))


class CatalogRepository:
    """Definition and calendar versions, and CI classes."""

    def __init__(self, session: AsyncSession):
        self.session = session
        self.definitions = Versions(session, definitions)
        self.calendars = Versions(session, calendars)

    async def latest_versions(self) -> tuple[dict[str, int], dict[str, int]]:
        """Which version of each definition and each calendar is the latest (deleted ones left out), in
        one query that reads no bodies."""
        parts = [select(literal(kind).label("kind"), t.c.id, t.c.version, t.c.deleted).ext(distinct_on(t.c.id))
                 .order_by(t.c.id, t.c.version.desc()).subquery()
                 for kind, t in (("definition", definitions), ("calendar", calendars))]
        rows = await self.session.execute(union_all(*(select(p) for p in parts)))
        found: dict[str, dict[str, int]] = {"definition": {}, "calendar": {}}
        for r in rows:
            if not r.deleted:
                found[r.kind][r.id] = r.version
        return found["definition"], found["calendar"]

    async def calendar_in_use(self, calendar_id: str) -> list[str]:
        """The definitions whose latest version uses this calendar."""
        return [r["id"] for r in await self.definitions.latest_all() if r["body"].get("calendar_id") == calendar_id]

    async def ci_classes(self, refs: Collection[str]) -> dict[str, str]:
        """CI id or name -> class, for these references."""
        if not refs:
            return {}
        rows = await self.session.execute(
            select(cis).where(or_(cis.c.ci_id.in_(list(refs)), cis.c.name.in_(list(refs)))))
        found: dict[str, str] = {}
        for r in rows:
            found[r.name] = r.ci_class
            found[r.ci_id] = r.ci_class
        return found

    async def rename_cis(self, names: dict[str, str]) -> None:
        if names:
            await self.session.execute(update(cis).where(cis.c.ci_id == bindparam("b_id")),
                                       [{"b_id": ci_id, "name": name} for ci_id, name in names.items()])

    async def upsert_cis(self, rows: list[dict]) -> None:
        if rows:
            upsert = pg_insert(cis)
            await self.session.execute(upsert.on_conflict_do_update(
                index_elements=["ci_id"], set_={"name": upsert.excluded.name, "ci_class": upsert.excluded.ci_class}),
                rows)

