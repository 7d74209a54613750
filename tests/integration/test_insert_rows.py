"""itsm_kit.db.insert_rows: many rows go by COPY, a few by an INSERT, and a row reads back the same either way, JSON
columns included (given as lists and dicts, as SQLAlchemy takes them)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import ARRAY, Column, DateTime, Integer, Interval, MetaData, String, Table, select
from sqlalchemy.dialects.postgresql import JSONB

from itsm_kit.db import COPY_FROM, insert_rows, make_engine, make_sessionmaker
from tests.helpers import fresh_database

pytestmark = pytest.mark.integration

metadata = MetaData()
things = Table("things", metadata, Column("id", String(20), primary_key=True), Column("segments", JSONB),
               Column("thresholds", ARRAY(Integer)), Column("target", Interval), Column("at", DateTime(timezone=True)))


def row(n: int) -> dict:
    return {"id": f"t{n:05d}", "segments": [{"state": "running", "start": "2026-12-06T00:00:00+00:00", "n": n}, {}],
            "thresholds": [50, 75], "target": timedelta(hours=4, seconds=n), "at": datetime(2026, 12, 6, tzinfo=UTC)}


async def test_many_rows_by_copy_and_a_few_by_insert_read_back_as_given(infra):
    engine = make_engine((await fresh_database("itsm_insert_rows")).replace("postgresql://", "postgresql+asyncpg://"))
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        sessions = make_sessionmaker(engine)
        many, few = [row(n) for n in range(COPY_FROM)], [row(n) for n in range(COPY_FROM, COPY_FROM + 2)]
        async with sessions() as session, session.begin():
            await insert_rows(session, things, many)
            await insert_rows(session, things, few)
        async with sessions() as session:
            stored = [dict(r._mapping) for r in await session.execute(select(things).order_by(things.c.id))]
        assert stored == many + few
    finally:
        await engine.dispose()
