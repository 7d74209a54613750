"""itsm_kit.db.insert_rows: many rows go by COPY, a few by an INSERT, and a row reads back the same either way, JSON
columns included (given as lists and dicts, as SQLAlchemy takes them), and columns left out take the table's defaults,
SQLAlchemy's own included."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import ARRAY, Column, DateTime, Integer, Interval, MetaData, String, Table, select
from sqlalchemy.dialects.postgresql import JSONB

from itsm_kit.db import COPY_FROM, copy_rows, insert_rows, make_engine, make_sessionmaker
from tests.helpers import fresh_database

pytestmark = pytest.mark.integration

metadata = MetaData()
things = Table("things", metadata, Column("id", String(20), primary_key=True), Column("segments", JSONB),
               Column("thresholds", ARRAY(Integer)), Column("target", Interval), Column("at", DateTime(timezone=True)),
               Column("note", String(20), nullable=False, default=""),
               Column("made_by", String(20), default=lambda: "bench"),
               Column("kept", Integer, nullable=False, server_default="7"))
DEFAULTS = {"note": "", "made_by": "bench", "kept": 7}


def row(n: int) -> dict:
    return {"id": f"t{n:05d}", "segments": [{"state": "running", "start": "2026-12-06T00:00:00+00:00", "n": n}, {}],
            "thresholds": [50, 75], "target": timedelta(hours=4, seconds=n), "at": datetime(2026, 12, 6, tzinfo=UTC)}


async def inserted(name: str, *runs: list[dict]) -> list[dict]:
    """The rows of a fresh table after inserting each run in one transaction."""
    engine = make_engine((await fresh_database(name)).replace("postgresql://", "postgresql+asyncpg://"))
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        sessions = make_sessionmaker(engine)
        async with sessions() as session, session.begin():
            for rows in runs:
                await insert_rows(session, things, rows)
        async with sessions() as session:
            return [dict(r._mapping) for r in await session.execute(select(things).order_by(things.c.id))]
    finally:
        await engine.dispose()


async def test_many_rows_by_copy_and_a_few_by_insert_read_back_as_given(infra):
    many, few = [row(n) for n in range(COPY_FROM)], [row(n) for n in range(COPY_FROM, COPY_FROM + 2)]
    assert await inserted("itsm_insert_rows", many, few) == [{**r, **DEFAULTS} for r in many + few]


async def test_rows_leaving_out_a_column_of_plain_default_go_by_copy_with_it(infra, monkeypatch):
    copied = []

    async def counted(session, table, rows):
        copied.append(len(rows))
        await copy_rows(session, table, rows)

    monkeypatch.setattr("itsm_kit.db.copy_rows", counted)
    many = [{**row(n), "made_by": "agent"} for n in range(COPY_FROM)]
    assert await inserted("itsm_insert_rows_copy", many) == [{**r, "note": "", "kept": 7} for r in many]
    assert copied == [COPY_FROM]
