"""The changes database: tables and the repository that maps them to ChangeRequest."""

from __future__ import annotations

import dataclasses

from sqlalchemy import BigInteger, Column, DateTime, Index, MetaData, Sequence, String, Table, Text, select
from sqlalchemy.ext.asyncio import AsyncSession

from itsm_changes.domain import ChangeRequest, ChangeType, State
from itsm_kit.pagination import newest_first, page_of

metadata = MetaData()

change_number = Sequence("change_number_seq", start=1001, metadata=metadata)

changes = Table(
    "changes",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("number", String(20), nullable=False, unique=True),
    Column("short_description", String(160), nullable=False),
    Column("description", Text, nullable=False),
    Column("change_type", String(20), nullable=False),
    Column("state", String(20), nullable=False),
    Column("planned_start", DateTime(timezone=True)),
    Column("planned_end", DateTime(timezone=True)),
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("version", BigInteger, nullable=False),
    Index("changes_by_requested", "requested_at", "id"),
)

_FIELDS = [f.name for f in dataclasses.fields(ChangeRequest) if f.name != "events"]


def _to_change(row) -> ChangeRequest:
    values = {name: row._mapping[name] for name in _FIELDS}
    return ChangeRequest(**values | {"change_type": ChangeType(values["change_type"]), "state": State(values["state"])})


class ChangeRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def next_number(self) -> str:
        return f"CHG{await self.session.scalar(change_number.next_value()):07d}"

    async def get(self, change_id: str) -> ChangeRequest | None:
        row = (await self.session.execute(select(changes).where(changes.c.id == change_id))).first()
        return _to_change(row) if row else None

    async def add(self, change: ChangeRequest) -> None:
        await self.session.execute(changes.insert().values({name: getattr(change, name) for name in _FIELDS}))

    async def page(self, *, limit: int, cursor: str | None = None) -> tuple[list[ChangeRequest], str | None]:
        """Newest first; returns the page and the next page's cursor."""
        query = newest_first(select(changes), changes.c.requested_at, changes.c.id, limit=limit, cursor=cursor)
        found = [_to_change(r) for r in (await self.session.execute(query)).all()]
        return page_of(found, limit, lambda x: (x.requested_at, x.id))
