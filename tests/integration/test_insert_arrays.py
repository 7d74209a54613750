"""itsm_kit.db.insert_arrays: a run's rows as one array a column, one INSERT ... SELECT FROM unnest statement. Rows
read back as given (JSON, timestamps, nulls), ids are drawn in the rows' order, UpsertNewer keeps the newer row by
sequence, and a value too long for its column is refused as an INSERT refuses it, never cut short."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import BigInteger, Column, DateTime, Integer, MetaData, String, Table, event, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import DBAPIError

from itsm_kit.db import UpsertNewer, arrays, insert_arrays, make_engine, make_sessionmaker
from tests.helpers import fresh_database

pytestmark = pytest.mark.integration

metadata = MetaData()
copies = Table("copies", metadata, Column("n", BigInteger, primary_key=True, autoincrement=True),
               Column("key", String(8), nullable=False, unique=True), Column("title", String(12)),
               Column("data", JSONB, nullable=False), Column("at", DateTime(timezone=True)),
               Column("sequence", Integer, nullable=False))
COLUMNS = ("key", "title", "data", "at", "sequence")
ADD = insert_arrays(copies, COLUMNS)
KEEP_NEWER = UpsertNewer(copies, ["key"], ("title", "data", "at", "sequence"))
AT = datetime(2026, 12, 6, 8, tzinfo=UTC)


def row(key: str, title: str | None, sequence: int = 1) -> dict:
    return {"key": key, "title": title, "data": {"labels": {"job": key}, "values": [1, None]}, "at": AT,
            "sequence": sequence}


@pytest.fixture
async def sessions(infra):
    engine = make_engine((await fresh_database("itsm_insert_arrays")).replace("postgresql://", "postgresql+asyncpg://"))
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    statements: list[str] = []
    event.listen(engine.sync_engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    yield make_sessionmaker(engine), statements
    await engine.dispose()


async def read(sessions) -> list[dict]:
    async with sessions() as session:
        return [dict(r._mapping) for r in await session.execute(select(copies).order_by(copies.c.n))]


async def test_a_run_is_one_statement_and_reads_back_in_its_order(sessions):
    sessions, statements = sessions
    run = [row(f"k{n}", None if n == 3 else f"title {n}") for n in (5, 1, 3, 2)]
    async with sessions() as session, session.begin():
        await session.execute(ADD, arrays(copies, COLUMNS, run))

    assert [{k: r[k] for k in COLUMNS} for r in await read(sessions)] == run
    assert sum("INSERT INTO copies" in s for s in statements) == 1


async def test_on_conflict_keeps_the_newer_and_a_long_value_is_refused_not_cut(sessions):
    sessions, _ = sessions
    async with sessions() as session, session.begin():
        await session.execute(ADD, arrays(copies, COLUMNS, [row("a", "first", 2), row("b", "first", 2)]))
    async with sessions() as session, session.begin():
        await KEEP_NEWER(session, [row("a", "older", 1), row("b", "newer", 3), row("c", "new", 1)])
    assert [(r["key"], r["title"], r["sequence"]) for r in await read(sessions)] == [
        ("a", "first", 2), ("b", "newer", 3), ("c", "new", 1)]

    with pytest.raises(DBAPIError, match="too long"):
        async with sessions() as session, session.begin():
            await session.execute(ADD, arrays(copies, COLUMNS, [row("d", "x" * 13)]))
    assert [r["key"] for r in await read(sessions)] == ["a", "b", "c"]
