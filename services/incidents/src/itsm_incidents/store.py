"""The incidents database: tables and the repository that maps them to Incident."""

from __future__ import annotations

import dataclasses

from sqlalchemy import (
    BigInteger, Column, DateTime, Index, Integer, MetaData, Sequence, String, Table, Text, func, select, text, update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

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

    async def open_for_alert(self, dedup_key: str) -> Incident | None:
        row = (
            await self.session.execute(
                select(incidents)
                .where(incidents.c.dedup_key == dedup_key, incidents.c.state.in_([s.value for s in OPEN_STATES]))
                .with_for_update()
            )
        ).first()
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
