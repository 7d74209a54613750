"""The sla database: timers, and the repository that maps them to Timer."""

from __future__ import annotations

import dataclasses

from sqlalchemy import BigInteger, Boolean, Column, DateTime, Index, Integer, MetaData, String, Table, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from itsm_sla.domain import Stage, Timer

metadata = MetaData()

timers = Table(
    "timers",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("incident_id", String(36), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("policy", String(60), nullable=False),
    Column("priority", Integer, nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("stage", String(20), nullable=False),
    Column("stopped_at", DateTime(timezone=True)),
    Column("breached", Boolean, nullable=False),
    Column("version", BigInteger, nullable=False),
    Index("timers_by_incident", "incident_id"),
)

_FIELDS = [f.name for f in dataclasses.fields(Timer) if f.name != "events"]


def _to_timer(row) -> Timer:
    values = {name: row._mapping[name] for name in _FIELDS}
    values["stage"] = Stage(values["stage"])
    return Timer(**values)


class TimerRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def for_incident(self, incident_id: str, *, for_update: bool = False) -> list[Timer]:
        query = select(timers).where(timers.c.incident_id == incident_id).order_by(timers.c.started_at, timers.c.kind)
        rows = (await self.session.execute(query.with_for_update() if for_update else query)).all()
        return [_to_timer(r) for r in rows]

    async def get(self, timer_id: str) -> Timer | None:
        row = (await self.session.execute(select(timers).where(timers.c.id == timer_id))).first()
        return _to_timer(row) if row else None

    async def add(self, timer: Timer) -> None:
        await self.session.execute(timers.insert().values({n: getattr(timer, n) for n in _FIELDS}))

    async def save(self, timer: Timer) -> None:
        await self.session.execute(
            update(timers).where(timers.c.id == timer.id).values({n: getattr(timer, n) for n in _FIELDS})
        )
