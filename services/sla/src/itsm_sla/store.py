"""The sla database: timers, and the repository that maps them to Timer."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterable

from sqlalchemy import (
    BigInteger, Boolean, Column, DateTime, Index, Integer, MetaData, String, Table, any_, bindparam, select, update,
)
from sqlalchemy.dialects.postgresql import ARRAY
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
_CHANGEABLE = [name for name in _FIELDS if name != "id"]

# One statement whatever the number of incidents: `incident_id = ANY(:incident_ids)`.
_OF_INCIDENTS = timers.c.incident_id == any_(bindparam("incident_ids", type_=ARRAY(String)))
# Each row of an executemany names its timer as `b_id` (the name `id` is the SET clause's).
_SAVE = update(timers).where(timers.c.id == bindparam("b_id")).values({n: bindparam(n) for n in _CHANGEABLE})


def _to_timer(row) -> Timer:
    values = {name: row._mapping[name] for name in _FIELDS}
    values["stage"] = Stage(values["stage"])
    return Timer(**values)


class TimerRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def for_incident(self, incident_id: str, *, for_update: bool = False) -> list[Timer]:
        return (await self.for_incidents([incident_id], for_update=for_update)).get(incident_id, [])

    async def for_incidents(self, incident_ids: Iterable[str], *, for_update: bool = False) -> dict[str, list[Timer]]:
        """The timers of each of these incidents (those with any), each incident's in start order."""
        query = select(timers).where(_OF_INCIDENTS).order_by(timers.c.incident_id, timers.c.started_at, timers.c.kind)
        rows = await self.session.execute(query.with_for_update() if for_update else query,
                                          {"incident_ids": sorted(set(incident_ids))})
        found: dict[str, list[Timer]] = {}
        for row in rows:
            timer = _to_timer(row)
            found.setdefault(timer.incident_id, []).append(timer)
        return found

    async def incidents_with_timers(self, incident_ids: Iterable[str]) -> set[str]:
        query = select(timers.c.incident_id).distinct().where(_OF_INCIDENTS)
        return set(await self.session.scalars(query, {"incident_ids": sorted(set(incident_ids))}))

    async def get(self, timer_id: str) -> Timer | None:
        row = (await self.session.execute(select(timers).where(timers.c.id == timer_id))).first()
        return _to_timer(row) if row else None

    async def add_many(self, new: Collection[Timer]) -> None:
        """Insert new timers: one statement for all of them."""
        if new:
            await self.session.execute(timers.insert(), [{n: getattr(t, n) for n in _FIELDS} for t in new])

    async def save_many(self, changed: Collection[Timer]) -> None:
        """Write back changed timers by primary key: one executemany for all of them."""
        if changed:
            await self.session.execute(_SAVE, [{"b_id": t.id, **{n: getattr(t, n) for n in _CHANGEABLE}}
                                               for t in changed])
