"""Search that ranks (issue 18) on the real databases: the indexes exist in each service's database and serve the
word predicates (tsvector GIN) and the corrections of misspelled words (the titles' vocabulary, trigram GIN), on a
table of a few thousand incidents; triggers keep the vocabulary as titles are written."""

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
async def test_each_service_has_the_text_index_and_the_vocabulary_index(platform, service):
    table = TABLES[service]
    query = ("SELECT string_agg(indexdef, ' ; ' ORDER BY indexname) FROM pg_indexes"
             " WHERE tablename = $1 AND indexname LIKE $1 || '_by_%'")
    found = await database_scalar(service, query, table)
    assert f"CREATE INDEX {table}_by_search ON public.{table} USING gin (search)" in found
    assert "gin_trgm_ops" not in found  # the records' titles have no trigram index to keep up
    words = await database_scalar(service, query, f"{table}_words")
    assert f"CREATE INDEX {table}_words_by_trigram ON public.{table}_words USING gin (word gin_trgm_ops)" in words


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
                assert '"incidents_by_search"' in plan and '"Seq Scan"' not in plan, plan
                if q == "netwrok":  # corrected through the vocabulary, the records still through one index
                    assert '"Relation Name": "incidents_words"' in plan and '_by_trigram' not in plan, plan
            hits = (await session.execute(ranked_query(incidents, INCIDENT_SEARCH, f"netwrok {tag}",
                                                       [incidents.c.id], limit=5))).all()
            assert [h.id for h in hits] == [rows[1234]["id"]]
        finally:
            await session.rollback()


# -- search bench (issue 18): a search's bitmaps stay exact
async def test_a_search_has_room_for_its_bitmaps_in_its_own_transaction_only(platform):
    from itsm_incidents.store import INCIDENT_SEARCH, incidents
    from itsm_kit.search import SEARCH_WORK_MEM, ranked

    async with service_sessions("incidents") as sessions, sessions() as session:
        default = (await session.execute(text("SHOW work_mem"))).scalar_one()
        await session.commit()
        assert default != SEARCH_WORK_MEM
        await ranked(session, incidents, INCIDENT_SEARCH, "printer", [incidents.c.id], limit=5)
        assert (await session.execute(text("SHOW work_mem"))).scalar_one() == SEARCH_WORK_MEM
        # Planned for its words each time: a cached generic plan knows nothing of how common they are.
        assert (await session.execute(text("SHOW plan_cache_mode"))).scalar_one() == "force_custom_plan"
        await session.commit()
        assert (await session.execute(text("SHOW work_mem"))).scalar_one() == default
        assert (await session.execute(text("SHOW plan_cache_mode"))).scalar_one() == "auto"


async def test_the_vocabulary_follows_the_titles_written_so_new_words_can_be_misspelled(platform):
    from itsm_incidents.store import INCIDENT_SEARCH, incidents

    now = datetime.now(UTC)
    tag = "".join(random.Random().choices(string.ascii_lowercase, k=10))
    row = {"id": f"vocab-{tag}", "number": f"VOC{tag[:8]}", "short_description": f"Quokkaphone{tag} rebooting",
           "description": "", "state": "new", "impact": 3, "urgency": 3, "priority": 5, "origin": "manual",
           "opened_at": now, "updated_at": now, "version": 1}
    misspelled = f"quokkafone{tag}"

    async def found(session, q: str) -> list[str]:
        await similar_words(session)
        return [r.id for r in (await session.execute(
            select(incidents.c.id).where(matches(incidents, INCIDENT_SEARCH, q)))).all()]

    async with service_sessions("incidents") as sessions, sessions() as session:
        try:  # rolled back at the end
            await session.execute(insert(incidents), [row])
            assert await found(session, misspelled) == [row["id"]]  # the insert's trigger added the word
            await session.execute(incidents.update().where(incidents.c.id == row["id"])
                                  .values(short_description=f"Wombatscreen{tag} flickers"))
            assert await found(session, f"wombatscren{tag}") == [row["id"]]  # and the update's
            known = await session.execute(text("SELECT count(*) FROM incidents_words WHERE word = :w"),
                                          {"w": f"quokkaphone{tag}"})
            assert known.scalar_one() == 1  # once, and kept: other records may still use it
        finally:
            await session.rollback()


async def test_an_id_in_a_title_finds_its_incident_but_is_no_word_of_the_vocabulary(platform):
    """An alert storm's titles carry an id each (a pod's hash, a request id): each would have been a new vocabulary word
    and a trigram index insert, for a word nobody misspells."""
    from itsm_incidents.store import INCIDENT_SEARCH, incidents

    now = datetime.now(UTC)
    tag = "".join(random.Random().choices(string.ascii_lowercase, k=10))
    pod = f"{tag[:4]}7f9c4{tag[4:8]}"  # five digits
    row = {"id": f"vocab-{tag}", "number": f"VOC{tag[:8]}", "short_description": f"Checkout{tag} slow on pod {pod}",
           "description": "", "state": "new", "impact": 3, "urgency": 3, "priority": 5, "origin": "alert",
           "opened_at": now, "updated_at": now, "version": 1}
    async with service_sessions("incidents") as sessions, sessions() as session:
        try:  # rolled back at the end
            await session.execute(insert(incidents), [row])
            await similar_words(session)
            hits = await session.execute(select(incidents.c.id).where(matches(incidents, INCIDENT_SEARCH, pod)))
            assert [r.id for r in hits] == [row["id"]]  # found by the token as written
            kept = await session.execute(text("SELECT word FROM incidents_words WHERE word = ANY(:w)"),
                                         {"w": [f"checkout{tag}", pod]})
            assert sorted(kept.scalars()) == [f"checkout{tag}"]
        finally:
            await session.rollback()
