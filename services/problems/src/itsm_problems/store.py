"""The problems database: tables and the repository that maps them to Problem."""

from __future__ import annotations

from collections.abc import Sequence as Seq

from sqlalchemy import (
    BigInteger, Column, DateTime, Index, Integer, MetaData, Select, Sequence, String, Table, Text, select,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from itsm_problems.domain import Activity, CauseCode, Problem, ResolutionCode, State
from itsm_kit.pagination import newest_first, page_of
from itsm_kit.records import AggregateRepository, Numbering
from itsm_kit.timeline import Timeline, activity_table

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
    Column("root_cause", Text),
    Column("cause_code", String(20)),
    Column("fix_change_id", String(64)),
    Column("resolution_code", String(20)),
    Column("resolution_notes", Text),
    Column("resolved_at", DateTime(timezone=True)),
    Column("closed_at", DateTime(timezone=True)),
    Index("problems_by_opened", "opened_at", "id"),
    # The filters lists offer: each keeps the newest-first order, so a filtered page is an index range.
    Index("problems_by_state", "state", "opened_at", "id"),
    Index("problems_by_assignee", "assignee", "opened_at", "id"),
    Index("problems_by_group", "assignment_group", "opened_at", "id"),
    Index("problems_by_incident", "related_incidents", postgresql_using="gin"),
)

# Every change to a problem, who made it and when; comments and work notes too. Append-only.
problem_activity = activity_table(metadata, "problem")
PROBLEM_TIMELINE = Timeline(problem_activity, "problem")


def _maybe(choices: type) -> object:
    return lambda value: None if value is None else choices(value)


class ProblemRepository(AggregateRepository[Problem]):
    table, aggregate, noun = problems, Problem, "problem"
    numbering = Numbering(problem_number, "PRB")
    choices = {"state": State, "cause_code": _maybe(CauseCode), "resolution_code": _maybe(ResolutionCode)}

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

    async def add_activity_many(self, by_problem: Seq[tuple[str, list[Activity]]]) -> None:
        await PROBLEM_TIMELINE.add_many(self.session, by_problem)

    async def activity(self, problem_id: str, *, limit: int, cursor: str | None) -> tuple[list[dict], str | None]:
        return await PROBLEM_TIMELINE.page(self.session, problem_id, limit=limit, cursor=cursor)


async def write_timeline(session: AsyncSession, by_problem: Seq[tuple[str, list[Activity]]]) -> None:
    """The unit of work's timeline writer: each problem's new timeline lines."""
    await ProblemRepository(session).add_activity_many(by_problem)
