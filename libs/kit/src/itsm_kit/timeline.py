"""Where a record's timeline (itsm_kit.domain.Activity lines) is kept: one append-only table per kind of record,
the same shape everywhere, read newest first with a cursor."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import BigInteger, Column, DateTime, ForeignKey, Index, MetaData, String, Table, Text, select
from sqlalchemy.ext.asyncio import AsyncSession

from itsm_kit.db import insert_rows
from itsm_kit.domain import Activity
from itsm_kit.pagination import newest_first, page_of


def activity_table(metadata: MetaData, record: str) -> Table:
    """`<record>_activity`, its lines keyed by `<record>_id` (a row of `<record>s`)."""
    return Table(
        f"{record}_activity",
        metadata,
        Column("id", BigInteger, primary_key=True, autoincrement=True),
        Column(f"{record}_id", String(36), ForeignKey(f"{record}s.id"), nullable=False),
        Column("at", DateTime(timezone=True), nullable=False),
        Column("actor", String(255), nullable=False),
        Column("kind", String(20), nullable=False),
        Column("field", String(40)),
        Column("old_value", Text),
        Column("new_value", Text),
        Column("text", Text),
        Index(f"{record}_activity_by_{record}", f"{record}_id", "at", "id"),
    )


class Timeline:
    def __init__(self, table: Table, record: str):
        self.table, self.key = table, f"{record}_id"

    async def add_many(self, session: AsyncSession, by_record: Sequence[tuple[str, list[Activity]]]) -> None:
        rows = [{self.key: record_id, "at": e.at, "actor": e.actor, "kind": e.kind.value, "field": e.field,
                 "old_value": e.old_value, "new_value": e.new_value, "text": e.text}
                for record_id, entries in by_record for e in entries]
        await insert_rows(session, self.table, rows)

    async def page(self, session: AsyncSession, record_id: str, *, limit: int,
                   cursor: str | None) -> tuple[list[dict], str | None]:
        """Newest first. Lines written in one change share `at`; the id keeps their order."""
        query = newest_first(select(self.table).where(self.table.c[self.key] == record_id),
                             self.table.c.at, self.table.c.id, limit=limit, cursor=cursor)
        found = [dict(r._mapping) for r in (await session.execute(query)).all()]
        return page_of(found, limit, lambda e: (e["at"], e["id"]))
