"""The problems database: tables and the repository that maps them to Problem."""

from __future__ import annotations

import dataclasses

from sqlalchemy import (
    BigInteger, Column, DateTime, Index, Integer, MetaData, Sequence, String, Table, Text, select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from itsm_problems.domain import Problem, State
from itsm_kit.pagination import newest_first, page_of

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

_FIELDS = [f.name for f in dataclasses.fields(Problem) if f.name != "events"]


def _to_problem(row) -> Problem:
    values = {name: row._mapping[name] for name in _FIELDS}
    return Problem(**values | {"state": State(values["state"])})


class ProblemRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def next_number(self) -> str:
        return f"PRB{await self.session.scalar(problem_number.next_value()):07d}"

    async def get(self, problem_id: str) -> Problem | None:
        row = (await self.session.execute(select(problems).where(problems.c.id == problem_id))).first()
        return _to_problem(row) if row else None

    async def add(self, problem: Problem) -> None:
        await self.session.execute(problems.insert().values({name: getattr(problem, name) for name in _FIELDS}))

    async def page(self, *, limit: int, cursor: str | None = None) -> tuple[list[Problem], str | None]:
        """Newest first; returns the page and the next page's cursor."""
        query = newest_first(select(problems), problems.c.opened_at, problems.c.id, limit=limit, cursor=cursor)
        found = [_to_problem(r) for r in (await self.session.execute(query)).all()]
        return page_of(found, limit, lambda x: (x.opened_at, x.id))
