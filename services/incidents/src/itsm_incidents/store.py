"""The incidents database: tables and the repository that maps them to Incident."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from sqlalchemy import (
    BigInteger, Column, DateTime, ForeignKey, Index, Integer, MetaData, Sequence, String, Table, Text, func, select,
    text, update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from itsm_contracts.events.alerts import AlertReceived
from itsm_incidents.domain import OPEN_STATES, Incident, State
from itsm_kit.pagination import newest_first, page_of

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
    Index("incidents_by_opened", "opened_at", "id"),
    # At most one open incident per alert: the database holds the line even if two
    # consumers race on the same dedup key.
    Index(
        "incidents_one_open_per_dedup_key", "dedup_key", unique=True,
        postgresql_where=text("dedup_key IS NOT NULL AND state IN ('new', 'in_progress', 'on_hold')"),
    ),
)

_FIELDS = [f.name for f in dataclasses.fields(Incident) if f.name != "events"]


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

    async def add(self, incident: Incident) -> None:
        await self.session.execute(pg_insert(incidents).values(_row(incident)))

    async def save(self, incident: Incident, expected_version: int) -> None:
        result = await self.session.execute(
            update(incidents)
            .where(incidents.c.id == incident.id, incidents.c.version == expected_version)
            .values(_row(incident))
        )
        if result.rowcount != 1:
            raise StaleVersion(incident.id)

    async def page(
        self, *, limit: int, cursor: str | None = None, states: list[str] | None = None,
        priorities: list[int] | None = None, dedup_key: str | None = None,
    ) -> tuple[list[Incident], str | None]:
        """Newest first; returns the page and the next page's cursor."""
        query = newest_first(select(incidents), incidents.c.opened_at, incidents.c.id, limit=limit, cursor=cursor)
        if states:
            query = query.where(incidents.c.state.in_(states))
        if priorities:
            query = query.where(incidents.c.priority.in_(priorities))
        if dedup_key:
            query = query.where(incidents.c.dedup_key == dedup_key)
        found = [_to_incident(r) for r in (await self.session.execute(query)).all()]
        return page_of(found, limit, lambda i: (i.opened_at, i.id))

    async def count(self, states: list[str] | None = None) -> int:
        query = select(func.count()).select_from(incidents)
        if states:
            query = query.where(incidents.c.state.in_(states))
        return await self.session.scalar(query) or 0


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


class AlertRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def active(self, dedup_key: str) -> dict | None:
        """The alert's active row, locked: its repeats queue behind this transaction."""
        row = (await self.session.execute(
            select(incident_alerts).where(incident_alerts.c.dedup_key == dedup_key, _ACTIVE).with_for_update()
        )).first()
        return dict(row._mapping) if row else None

    async def storm_incident(self, group_key: str, since: datetime) -> str | None:
        """An incident holding an active alert of this group seen since `since`, newest first."""
        return await self.session.scalar(
            select(incident_alerts.c.incident_id)
            .where(incident_alerts.c.group_key == group_key, incident_alerts.c.last_seen_at >= since, _ACTIVE)
            .order_by(incident_alerts.c.last_seen_at.desc()).limit(1)
        )

    async def add(self, incident_id: str, alert: AlertReceived) -> None:
        await self.session.execute(incident_alerts.insert().values(
            incident_id=incident_id, dedup_key=alert.dedup_key, status=alert.status, group_key=alert.group_key,
            integration_id=alert.integration_id, severity=alert.severity, summary=alert.summary[:500], count=1,
            first_seen_at=alert.received_at, last_seen_at=alert.received_at,
        ))

    async def retire(self, row: dict) -> None:
        """Its incident was closed while the alert kept firing: the row becomes history."""
        await self.session.execute(
            update(incident_alerts)
            .where(incident_alerts.c.incident_id == row["incident_id"], incident_alerts.c.dedup_key == row["dedup_key"])
            .values(status="resolved")
        )

    async def seen_again(self, row: dict, alert: AlertReceived) -> None:
        await self.session.execute(
            update(incident_alerts)
            .where(incident_alerts.c.incident_id == row["incident_id"], incident_alerts.c.dedup_key == row["dedup_key"])
            .values(status=alert.status, count=incident_alerts.c.count + 1,
                    last_seen_at=func.greatest(incident_alerts.c.last_seen_at, alert.received_at))
        )

    async def still_active(self, incident_id: str) -> int:
        return await self.session.scalar(
            select(func.count()).where(incident_alerts.c.incident_id == incident_id, _ACTIVE)
        ) or 0
