"""The incidents database: tables and the repository that maps them to Incident."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from sqlalchemy import (
    BigInteger, Boolean, Column, DateTime, ForeignKey, Index, Integer, MetaData, Select, Sequence, String, Table, Text,
    bindparam, exists, func, insert, or_, select, text, update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from itsm_contracts.api.incidents import IncidentFilter, IncidentQuery
from itsm_contracts.events.alerts import AlertReceived
from itsm_incidents.domain import PRIORITY_MATRIX, Activity, Incident, State
from itsm_kit.domain import PRIORITY_LABELS
from itsm_kit.pagination import keyset, newest_first, page_of

metadata = MetaData()

incident_number = Sequence("incident_number_seq", start=1001, metadata=metadata)

incidents = Table(
    "incidents",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("number", String(20), nullable=False, unique=True),
    Column("short_description", String(160), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("state", String(20), nullable=False),
    Column("impact", Integer, nullable=False),
    Column("urgency", Integer, nullable=False),
    Column("priority", Integer, nullable=False),
    Column("origin", String(20), nullable=False),
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("dedup_key", String(255)),
    Column("alert_count", Integer, nullable=False, default=0),
    Column("last_seen_at", DateTime(timezone=True)),
    Column("hold_reason", String(40)),
    Column("resolved_at", DateTime(timezone=True)),
    Column("resolution_code", String(60)),
    Column("resolution_notes", Text),
    Column("caller", String(100)),
    Column("category", String(100)),
    Column("subcategory", String(100)),
    Column("assignment_group", String(100)),
    Column("assignee", String(100)),
    Column("reassignment_count", Integer, nullable=False, server_default="0"),
    Column("affected_ci", String(255)),
    Column("business_service", String(255)),
    Column("major", Boolean, nullable=False, server_default="false"),
    Column("parent_id", String(36), ForeignKey("incidents.id")),
    Column("priority_override_reason", String(500)),
    Column("reopen_count", Integer, nullable=False, server_default="0"),
    Column("closed_at", DateTime(timezone=True)),
    Column("escalated", Boolean, nullable=False, server_default="false"),
    Column("escalation_group", String(100)),
    Column("escalated_at", DateTime(timezone=True)),
    Index("incidents_by_opened", "opened_at", "id"),
    # The sort orders lists offer, and the filters a service desk uses most.
    Index("incidents_by_updated", "updated_at", "id"),
    Index("incidents_by_priority", "priority", "id"),
    Index("incidents_by_state", "state"),
    Index("incidents_by_assignment_group", "assignment_group"),
    Index("incidents_by_assignee", "assignee"),
    Index("incidents_by_affected_ci", "affected_ci"),
    Index("incidents_by_business_service", "business_service"),
    Index("incidents_children", "parent_id", postgresql_where=text("parent_id IS NOT NULL")),
    # What the auto-close job scans.
    Index("incidents_resolved", "resolved_at", postgresql_where=text("state = 'resolved'")),
    Index("incidents_escalated", "escalated_at", postgresql_where=text("escalated")),
    # At most one open incident per alert: the database holds the line even if two
    # consumers race on the same dedup key.
    Index(
        "incidents_one_open_per_dedup_key", "dedup_key", unique=True,
        postgresql_where=text("dedup_key IS NOT NULL AND state IN ('new', 'in_progress', 'on_hold')"),
    ),
)

# Every change to an incident, who made it and when; comments and work notes too. Append-only.
incident_activity = Table(
    "incident_activity",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("incident_id", String(36), ForeignKey("incidents.id"), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(255), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("field", String(40)),
    Column("old_value", Text),
    Column("new_value", Text),
    Column("text", Text),
    Index("incident_activity_by_incident", "incident_id", "at", "id"),
)

# Impact x urgency -> priority, as an admin set it (seeded with the default by the migration).
priority_matrix = Table(
    "priority_matrix",
    metadata,
    Column("impact", Integer, primary_key=True),
    Column("urgency", Integer, primary_key=True),
    Column("priority", Integer, nullable=False),
    Column("updated_at", DateTime(timezone=True)),
    Column("updated_by", String(255)),
)

_FIELDS = [f.name for f in dataclasses.fields(Incident) if f.name not in ("events", "activity")]


class StaleVersion(Exception):
    """Someone else changed the incident since it was read."""


def _to_incident(row) -> Incident:
    values = {name: row._mapping[name] for name in _FIELDS}
    values["state"] = State(values["state"])
    return Incident(**values)


def _row(incident: Incident) -> dict:
    return {name: getattr(incident, name) for name in _FIELDS}


class IncidentRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def next_number(self) -> str:
        return f"INC{await self.session.scalar(incident_number.next_value()):07d}"

    async def get(self, incident_id: str, *, for_update: bool = False) -> Incident | None:
        query = select(incidents).where(incidents.c.id == incident_id)
        row = (await self.session.execute(query.with_for_update() if for_update else query)).first()
        return _to_incident(row) if row else None

    async def next_numbers(self, count: int) -> list[str]:
        if count == 0:
            return []
        values = await self.session.scalars(select(incident_number.next_value()).select_from(
            func.generate_series(1, count)))
        return [f"INC{n:07d}" for n in values.all()]

    async def get_many(self, ids: list[str], *, for_update: bool = False) -> dict[str, Incident]:
        """Locked in id order, like children(), so concurrent runs cannot deadlock."""
        if not ids:
            return {}
        query = select(incidents).where(incidents.c.id.in_(ids)).order_by(incidents.c.id)
        rows = await self.session.execute(query.with_for_update() if for_update else query)
        return {r.id: _to_incident(r) for r in rows.all()}

    async def add(self, incident: Incident) -> None:
        await self.session.execute(pg_insert(incidents).values(_row(incident)))

    async def add_many(self, new: list[Incident]) -> None:
        if new:
            await self.session.execute(insert(incidents), [_row(i) for i in new])

    async def save_many(self, changed: list[Incident]) -> None:
        """For incidents this transaction holds locked, so no other writer can have moved their version."""
        if changed:
            await self.session.execute(
                update(incidents).where(incidents.c.id == bindparam("b_id")),
                [{"b_id": i.id, **{k: v for k, v in _row(i).items() if k != "id"}} for i in changed],
            )

    async def with_children(self, ids: list[str]) -> set[str]:
        """Which of these incidents are parents."""
        if not ids:
            return set()
        found = await self.session.scalars(select(incidents.c.parent_id).where(incidents.c.parent_id.in_(ids))
                                           .distinct())
        return set(found.all())

    async def save(self, incident: Incident, expected_version: int) -> None:
        result = await self.session.execute(
            update(incidents)
            .where(incidents.c.id == incident.id, incidents.c.version == expected_version)
            .values(_row(incident))
        )
        if result.rowcount != 1:
            raise StaleVersion(incident.id)

    async def children(self, parent_id: str) -> list[Incident]:
        """A parent's children, locked in id order (so two cascades cannot deadlock)."""
        rows = await self.session.execute(
            select(incidents).where(incidents.c.parent_id == parent_id).order_by(incidents.c.id).with_for_update()
        )
        return [_to_incident(r) for r in rows.all()]

    async def has_children(self, incident_id: str) -> bool:
        return bool(await self.session.scalar(select(exists().where(incidents.c.parent_id == incident_id))))

    async def resolved_before(self, cutoff: datetime, limit: int) -> list[Incident]:
        """Resolved non-major incidents due for auto-close, locked; rows another replica holds are skipped."""
        rows = await self.session.execute(
            select(incidents)
            .where(incidents.c.state == State.RESOLVED.value, incidents.c.resolved_at <= cutoff,
                   incidents.c.major.is_(False))
            .order_by(incidents.c.resolved_at, incidents.c.id).limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [_to_incident(r) for r in rows.all()]

    async def page(self, query: IncidentQuery) -> tuple[list[Incident], str | None]:
        """One page in the asked order; returns it and the next page's cursor."""
        column = incidents.c[query.sort]
        sort = f"{query.sort}:{query.order}"  # in the cursor: it only continues the same order
        page = keyset(_filtered(select(incidents), query), (column, incidents.c.id),
                      descending=query.order == "desc", limit=query.limit, cursor=query.cursor, sort=sort)
        found = [_to_incident(r) for r in (await self.session.execute(page)).all()]
        return page_of(found, query.limit, lambda i: (getattr(i, query.sort), i.id), sort=sort)

    async def counts(self, where: IncidentFilter) -> tuple[dict[str, int], dict[int, int]]:
        """How many incidents match, by state and by priority (zeros included)."""
        by_state = dict.fromkeys((s.value for s in State), 0)
        by_priority = dict.fromkeys(PRIORITY_LABELS, 0)
        for column, counts in ((incidents.c.state, by_state), (incidents.c.priority, by_priority)):
            rows = await self.session.execute(_filtered(select(column, func.count()), where).group_by(column))
            counts.update({value: n for value, n in rows.all()})
        return by_state, by_priority

    async def count(self, states: list[str] | None = None) -> int:
        query = select(func.count()).select_from(incidents)
        if states:
            query = query.where(incidents.c.state.in_(states))
        return await self.session.scalar(query) or 0

    async def add_activity(self, incident_id: str, entries: list[Activity]) -> None:
        await self.add_activity_many([(incident_id, entries)])

    async def add_activity_many(self, by_incident: list[tuple[str, list[Activity]]]) -> None:
        rows = [{"incident_id": incident_id, "at": e.at, "actor": e.actor, "kind": e.kind.value, "field": e.field,
                 "old_value": e.old_value, "new_value": e.new_value, "text": e.text}
                for incident_id, entries in by_incident for e in entries]
        if rows:
            await self.session.execute(insert(incident_activity), rows)

    async def activity(self, incident_id: str, *, limit: int, cursor: str | None) -> tuple[list[dict], str | None]:
        """Newest first. Lines written in one change share `at`; the id keeps their order."""
        query = newest_first(select(incident_activity).where(incident_activity.c.incident_id == incident_id),
                             incident_activity.c.at, incident_activity.c.id, limit=limit, cursor=cursor)
        found = [dict(r._mapping) for r in (await self.session.execute(query)).all()]
        return page_of(found, limit, lambda e: (e["at"], e["id"]))


def _filtered(query: Select, where: IncidentFilter) -> Select:
    c = incidents.c
    if where.state:
        query = query.where(c.state.in_(where.state))
    if where.priority:
        query = query.where(c.priority.in_(where.priority))
    for name in ("assignment_group", "assignee", "caller", "category", "affected_ci", "business_service", "major",
                 "parent_id", "dedup_key", "escalated"):
        if (value := getattr(where, name)) is not None:
            query = query.where(c[name] == value)
    for column, low, high in ((c.opened_at, where.opened_from, where.opened_before),
                              (c.updated_at, where.updated_from, where.updated_before)):
        if low is not None:
            query = query.where(column >= low)
        if high is not None:
            query = query.where(column < high)
    if where.q:
        # ILIKE: enough at this size; a tsvector GIN index is the next step when it is not.
        pattern = "%" + where.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(or_(c.number.ilike(pattern), c.short_description.ilike(pattern),
                                c.description.ilike(pattern)))
    return query


class PriorityMatrixRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def get(self) -> dict[tuple[int, int], int]:
        rows = (await self.session.execute(select(priority_matrix))).all()
        # Seeded by the migration; the default stands in should the table ever be emptied.
        return {(r.impact, r.urgency): r.priority for r in rows} or dict(PRIORITY_MATRIX)

    async def changed(self) -> tuple[datetime | None, str | None]:
        row = (await self.session.execute(
            select(priority_matrix.c.updated_at, priority_matrix.c.updated_by)
            .order_by(priority_matrix.c.updated_at.desc().nulls_last()).limit(1)
        )).first()
        return (row.updated_at, row.updated_by) if row else (None, None)

    async def replace(self, matrix: dict[tuple[int, int], int], *, by: str, at: datetime) -> None:
        upsert = pg_insert(priority_matrix)
        await self.session.execute(
            upsert.on_conflict_do_update(index_elements=["impact", "urgency"], set_={
                "priority": upsert.excluded.priority, "updated_at": upsert.excluded.updated_at,
                "updated_by": upsert.excluded.updated_by,
            }),
            [{"impact": i, "urgency": u, "priority": p, "updated_at": at, "updated_by": by}
             for (i, u), p in sorted(matrix.items())],
        )


# Monitoring alerts and the incident each is attached to. One active row per dedup key;
# a cleared alert stays as history, and firing again later starts a new row.
incident_alerts = Table(
    "incident_alerts",
    metadata,
    Column("incident_id", String(36), ForeignKey("incidents.id"), primary_key=True),
    Column("dedup_key", String(255), primary_key=True),
    Column("status", String(20), nullable=False),
    Column("group_key", String(512)),
    Column("integration_id", String(36), nullable=False),
    Column("severity", String(20), nullable=False),
    Column("summary", String(500), nullable=False),
    Column("count", Integer, nullable=False),
    Column("first_seen_at", DateTime(timezone=True), nullable=False),
    Column("last_seen_at", DateTime(timezone=True), nullable=False),
    Index("incident_alerts_one_active_per_key", "dedup_key", unique=True,
          postgresql_where=text("status <> 'resolved'")),
    Index("incident_alerts_active_by_group", "group_key", "last_seen_at",
          postgresql_where=text("status <> 'resolved' AND group_key IS NOT NULL")),
)

_ACTIVE = incident_alerts.c.status != "resolved"


def alert_row(incident_id: str, alert: AlertReceived) -> dict:
    """A new incident_alerts row for this alert on this incident."""
    return {"incident_id": incident_id, "dedup_key": alert.dedup_key, "status": alert.status,
            "group_key": alert.group_key, "integration_id": alert.integration_id, "severity": alert.severity,
            "summary": alert.summary[:500], "count": 1, "first_seen_at": alert.received_at,
            "last_seen_at": alert.received_at}


class AlertRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def active_many(self, dedup_keys: list[str]) -> dict[str, dict]:
        """The active row of each key, locked: their repeats in other runs queue behind this transaction."""
        if not dedup_keys:
            return {}
        rows = await self.session.execute(
            select(incident_alerts).where(incident_alerts.c.dedup_key.in_(dedup_keys), _ACTIVE)
            .order_by(incident_alerts.c.dedup_key).with_for_update()
        )
        return {r.dedup_key: dict(r._mapping) for r in rows.all()}

    async def active_counts(self, incident_ids: list[str]) -> dict[str, int]:
        if not incident_ids:
            return {}
        rows = await self.session.execute(
            select(incident_alerts.c.incident_id, func.count()).where(incident_alerts.c.incident_id.in_(incident_ids),
                                                                      _ACTIVE)
            .group_by(incident_alerts.c.incident_id)
        )
        return dict(rows.all())

    async def storm_incident(self, group_key: str, since: datetime) -> str | None:
        """An incident holding an active alert of this group seen since `since`, newest first."""
        return await self.session.scalar(
            select(incident_alerts.c.incident_id)
            .where(incident_alerts.c.group_key == group_key, incident_alerts.c.last_seen_at >= since, _ACTIVE)
            .order_by(incident_alerts.c.last_seen_at.desc()).limit(1)
        )

    async def of(self, incident_id: str) -> list[dict]:
        rows = await self.session.execute(select(incident_alerts).where(incident_alerts.c.incident_id == incident_id)
                                          .order_by(incident_alerts.c.first_seen_at, incident_alerts.c.dedup_key))
        return [dict(r._mapping) for r in rows.all()]

    async def add_many(self, rows: list[dict]) -> None:
        if rows:
            await self.session.execute(insert(incident_alerts), rows)

    async def save_many(self, rows: list[dict]) -> None:
        """Status, count and last seen of rows changed since they were read."""
        if rows:
            await self.session.execute(
                update(incident_alerts).where(incident_alerts.c.incident_id == bindparam("b_incident"),
                                              incident_alerts.c.dedup_key == bindparam("b_key")),
                [{"b_incident": r["incident_id"], "b_key": r["dedup_key"], "status": r["status"], "count": r["count"],
                  "last_seen_at": r["last_seen_at"]} for r in rows],
            )


# The copy of the CMDB this service keeps lives in its own module; its tables are part of this database.
from itsm_incidents import ci_view  # noqa: E402,F401
