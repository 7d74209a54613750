"""The changes database: tables and the repository that maps them to ChangeRequest."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, DateTime, Index, MetaData, Select, Sequence, String, Table, Text, select
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from itsm_changes.domain import Approval, ChangeRequest, ChangeType, State
from itsm_kit.pagination import newest_first, page_of
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
    Column("requested_by", String(255), nullable=False),
    Column("assignee", String(100)),
    Column("assignment_group", String(100)),
    Column("affected_cis", ARRAY(String(64)), nullable=False),
    # The decisions, oldest first ({approver, decision, comment, at}): read and written with the change.
    Column("approvals", JSONB, nullable=False),
    Index("changes_by_requested", "requested_at", "id"),
    # The filters lists offer: each keeps the newest-first order, so a filtered page is an index range.
    Index("changes_by_state", "state", "requested_at", "id"),
    Index("changes_by_assignee", "assignee", "requested_at", "id"),
    Index("changes_by_group", "assignment_group", "requested_at", "id"),
    Index("changes_by_planned_start", "planned_start"),
    Index("changes_by_ci", "affected_cis", postgresql_using="gin"),
)


def _approval(stored: Mapping[str, Any]) -> Approval:
    return Approval(approver=stored["approver"], decision=stored["decision"], comment=stored["comment"],
                    at=datetime.fromisoformat(stored["at"]))


class ChangeRepository(AggregateRepository[ChangeRequest]):
    table, aggregate, noun = changes, ChangeRequest, "change request"
    numbering = Numbering(change_number, "CHG")
    choices = {"change_type": ChangeType, "state": State}

    def load(self, row: Any) -> ChangeRequest:
        change = super().load(row)
        change.approvals = [_approval(a) for a in change.approvals]
        return change

    def row(self, change: ChangeRequest) -> dict[str, Any]:
        return {**super().row(change), "approvals": [
            {"approver": a.approver, "decision": a.decision, "comment": a.comment, "at": a.at.isoformat()}
            for a in change.approvals]}

    async def page(self, *, limit: int, cursor: str | None = None, state: list[str] | None = None,
                   assignee: str | None = None, assignment_group: str | None = None, affected_ci: str | None = None,
                   planned_start_from: datetime | None = None, planned_start_before: datetime | None = None,
                   ) -> tuple[list[ChangeRequest], str | None]:
        """Newest requested first, those every filter given holds for; the page and the next page's cursor.
        The planned start range includes `from` and excludes `before`."""
        c = changes.c
        query: Select = select(changes)
        if state:
            query = query.where(c.state.in_(state))
        for column, value in ((c.assignee, assignee), (c.assignment_group, assignment_group)):
            if value is not None:
                query = query.where(column == value)
        if affected_ci is not None:
            query = query.where(c.affected_cis.contains([affected_ci]))  # @>, which the GIN index serves
        if planned_start_from is not None:
            query = query.where(c.planned_start >= planned_start_from)
        if planned_start_before is not None:
            query = query.where(c.planned_start < planned_start_before)
        query = newest_first(query, c.requested_at, c.id, limit=limit, cursor=cursor)
        found = [self.load(r) for r in (await self.session.execute(query)).all()]
        return page_of(found, limit, lambda change: (change.requested_at, change.id))
