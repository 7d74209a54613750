"""The problems database: tables and the repository that maps them to Problem."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger, Column, DateTime, Index, Integer, MetaData, Select, Sequence, String, Table, Text, select,
)
from sqlalchemy.dialects.postgresql import ARRAY

from itsm_problems.domain import Problem, State
from itsm_kit.pagination import newest_first, page_of
from itsm_kit.records import AggregateRepository, Numbering

metadata = MetaData()

problem_number = Sequence("problem_number_seq", start=1001, metadata=metadata)

problems = Table(
    "problems",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("number", String(20), nullable=False, unique=True),
    Column("short_description", String(160), nullable=False),
    Column("description", Text, nullable=False),
    Column("state", String(30), nullable=False),
    Column("impact", Integer, nullable=False),
    Column("urgency", Integer, nullable=False),
    Column("priority", Integer, nullable=False),
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("opened_by", String(255), nullable=False),
    Column("assignee", String(100)),
    Column("assignment_group", String(100)),
    Column("related_incidents", ARRAY(String(64)), nullable=False),
    Index("problems_by_opened", "opened_at", "id"),
    # The filters lists offer: each keeps the newest-first order, so a filtered page is an index range.
    Index("problems_by_state", "state", "opened_at", "id"),
    Index("problems_by_assignee", "assignee", "opened_at", "id"),
    Index("problems_by_group", "assignment_group", "opened_at", "id"),
    Index("problems_by_incident", "related_incidents", postgresql_using="gin"),
)


class ProblemRepository(AggregateRepository[Problem]):
    table, aggregate, noun = problems, Problem, "problem"
    numbering = Numbering(problem_number, "PRB")
    choices = {"state": State}

    async def page(self, *, limit: int, cursor: str | None = None, state: list[str] | None = None,
                   assignee: str | None = None, assignment_group: str | None = None,
                   incident_id: str | None = None) -> tuple[list[Problem], str | None]:
        """Newest first, those every filter given holds for; the page and the next page's cursor."""
        c = problems.c
        query: Select = select(problems)
        if state:
            query = query.where(c.state.in_(state))
        for column, value in ((c.assignee, assignee), (c.assignment_group, assignment_group)):
            if value is not None:
                query = query.where(column == value)
        if incident_id is not None:
            query = query.where(c.related_incidents.contains([incident_id]))  # @>, which the GIN index serves
        query = newest_first(query, c.opened_at, c.id, limit=limit, cursor=cursor)
        found = [self.load(r) for r in (await self.session.execute(query)).all()]
        return page_of(found, limit, lambda problem: (problem.opened_at, problem.id))
