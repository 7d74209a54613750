"""Search that ranks (issue 18) on the real databases: the indexes exist in each service's database and serve the
word (tsvector GIN) and misspelled-word (trigram GIN) predicates, on a table of a few thousand incidents."""

from __future__ import annotations

import json
import random
import string
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, select, text

from itsm_kit.search import matches, ranked_query, similar_words
from tests.helpers import database_scalar, service_sessions

pytestmark = pytest.mark.integration

TABLES = {"incidents": "incidents", "problems": "problems", "changes": "changes"}
WORDS = ["network", "database", "printer", "laptop", "mail", "outage", "slow", "login", "disk", "backup", "queue"]


@pytest.mark.parametrize("service", sorted(TABLES))
async def test_each_service_has_the_text_and_the_trigram_index(platform, service):
    table = TABLES[service]
    found = await database_scalar(service, "SELECT string_agg(indexdef, ' ; ' ORDER BY indexname) FROM pg_indexes"
                                           " WHERE tablename = $1 AND indexname LIKE $1 || '_by_%'", table)
    assert f"CREATE INDEX {table}_by_search ON public.{table} USING gin (search)" in found
    assert f"CREATE INDEX {table}_by_trigram ON public.{table} USING gin (short_description gin_trgm_ops)" in found


def _plan(rows: list[list]) -> str:
    return json.dumps(rows[0][0])


async def test_words_and_misspelled_words_are_found_through_the_indexes(platform):
    from itsm_incidents.store import INCIDENT_SEARCH, incidents

    now = datetime.now(UTC)
    rng = random.Random(18)
    tag = "".join(rng.choices(string.ascii_lowercase, k=12))
    rows = [{"id": f"search-{tag}-{n}", "number": f"SRC{tag[:6]}{n:05d}",
             "short_description": " ".join(rng.choices(WORDS, k=4)), "description": " ".join(rng.choices(WORDS, k=12)),
             "state": "new", "impact": 3, "urgency": 3, "priority": 5, "origin": "manual", "opened_at": now,
             "updated_at": now, "version": 1} for n in range(3000)]
    rows[1234]["short_description"] = f"{tag} network outage"
    async with service_sessions("incidents") as sessions, sessions() as session:
        try:  # rolled back at the end: other tests never see these rows
            await session.execute(insert(incidents), rows)
            await session.execute(text("ANALYZE incidents"))
            await session.execute(text("SET LOCAL enable_seqscan = off"))
            await similar_words(session)
            for q in (tag, "netwrok"):
                query = select(incidents.c.id).where(matches(incidents, INCIDENT_SEARCH, q))
                compiled = query.compile(dialect=session.bind.dialect, compile_kwargs={"literal_binds": True})
                plan = _plan((await session.execute(text(f"EXPLAIN (FORMAT JSON) {compiled}"))).all())
                assert '"incidents_by_search"' in plan and '"incidents_by_trigram"' in plan, plan
            hits = (await session.execute(ranked_query(incidents, INCIDENT_SEARCH, f"netwrok {tag}",
                                                       [incidents.c.id], limit=5))).all()
            assert [h.id for h in hits] == [rows[1234]["id"]]
        finally:
            await session.rollback()
