"""The problems database: tables and the repository that maps them to Problem."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from sqlalchemy import (
    BigInteger, Column, DateTime, Index, Integer, MetaData, Sequence, String, Table, Text, select, tuple_,
)
from sqlalchemy.ext.asyncio import AsyncSession

from itsm_problems.domain import Problem, State

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

    async def page(self, *, limit: int, after: tuple[datetime, str] | None = None) -> list[Problem]:
        """Newest first, keyset-paginated on (opened_at, id)."""
        query = select(problems).order_by(problems.c.opened_at.desc(), problems.c.id.desc()).limit(limit)
        if after is not None:
            query = query.where(tuple_(problems.c.opened_at, problems.c.id) < tuple_(*after))
        return [_to_problem(r) for r in (await self.session.execute(query)).all()]
