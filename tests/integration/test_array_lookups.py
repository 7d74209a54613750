"""itsm_kit.db.among: a lookup of a few hundred ids stays a hashed join when its table grows under a plan PostgreSQL
cached while the table was small, and finds what `= ANY` would.

PostgreSQL keeps a prepared statement's generic plan until the table is analysed again. `id = ANY($1)` planned on a
small table (a fresh database; an outbox with nothing pending) is a sequential scan that tests every row against the
array one element at a time. A storm grows the table before autovacuum comes by, and every lookup then costs tens of
milliseconds: in the SLA service's database, 20 to 60 ms a lookup of 400 incidents' timers, and as much for the relay
marking 400 outbox rows published (seen with auto_explain in the benchmark's order). auto_explain, loaded in the
test's session, shows the plan a statement ran with."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from itsm_kit.db import kit_metadata, make_engine
from itsm_kit.outbox import marked_published
from tests.helpers import fresh_database

pytestmark = pytest.mark.integration

ROWS = "INSERT INTO outbox (event_id, topic, key, payload) SELECT 'e' || n, 'itsm.x', 'k', '\\x00'::bytea" \
       " FROM generate_series(CAST(:first AS int), CAST(:last AS int)) n"


async def test_the_relay_marking_rows_published_does_not_test_each_row_against_the_ids_once_the_outbox_has_grown(
        infra):
    engine = make_engine((await fresh_database("itsm_array_lookups")).replace("postgresql://", "postgresql+asyncpg://"))
    try:
        async with engine.begin() as conn:
            await conn.run_sync(kit_metadata.create_all)
        async with engine.connect() as conn:  # one connection: plans are cached per connection
            await conn.execute(text(ROWS), {"first": 1, "last": 50})
            for n in range(1, 9):  # past PostgreSQL's five custom plans: the generic one is cached
                assert (await conn.execute(marked_published([n, n + 10]))).rowcount == 2
            await conn.execute(text(ROWS), {"first": 51, "last": 20000})
            await conn.commit()
            plans: list[str] = []
            driver = (await conn.get_raw_connection()).driver_connection
            driver.add_log_listener(lambda _, message: plans.append(message.message))
            for setting in ("LOAD 'auto_explain'", "SET auto_explain.log_min_duration = 0",
                            "SET auto_explain.log_analyze = on", "SET auto_explain.log_level = notice"):
                await conn.execute(text(setting))
            assert (await conn.execute(marked_published(list(range(100, 20000, 50))))).rowcount == 398
            await conn.commit()
        [plan] = [p for p in plans if "UPDATE outbox" in p]
        assert "Rows Removed by Filter" not in plan, plan
    finally:
        await engine.dispose()
