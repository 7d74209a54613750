"""The changes database: tables and the repository that maps them to ChangeRequest."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, Index, MetaData, Sequence, String, Table, Text

from itsm_changes.domain import ChangeRequest, ChangeType, State
from itsm_kit.records import AggregateRepository, Numbering

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

class ChangeRepository(AggregateRepository[ChangeRequest]):
    table, aggregate, noun = changes, ChangeRequest, "change request"
    numbering = Numbering(change_number, "CHG")
    choices = {"change_type": ChangeType, "state": State}

    async def page(self, *, limit: int, cursor: str | None = None) -> tuple[list[ChangeRequest], str | None]:
        return await self.newest_first("requested_at", limit=limit, cursor=cursor)
