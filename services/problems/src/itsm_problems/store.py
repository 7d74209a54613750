"""The problems database: tables and the repository that maps them to Problem."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, Index, Integer, MetaData, Sequence, String, Table, Text

from itsm_problems.domain import Problem, State
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
    Index("problems_by_opened", "opened_at", "id"),
)

class ProblemRepository(AggregateRepository[Problem]):
    table, aggregate, noun = problems, Problem, "problem"
    numbering = Numbering(problem_number, "PRB")
    choices = {"state": State}

    async def page(self, *, limit: int, cursor: str | None = None) -> tuple[list[Problem], str | None]:
        return await self.newest_first("opened_at", limit=limit, cursor=cursor)
