"""itsm_kit.search's pure parts: what a text becomes, how hits merge, what a highlight may carry."""

from __future__ import annotations

from sqlalchemy import Column, MetaData, String, Table, Text
from sqlalchemy.dialects import postgresql

from itsm_kit.search import (
    CANDIDATES, MAX_TEXT, MAX_WORDS, Searchable, marked, matches, ranked_query, scored, words,
)

SPEC = Searchable("things", title=("number", "short_description"), body=("description",), trigram="short_description")
things = Table("things", MetaData(), Column("id", String, primary_key=True), Column("number", String),
               Column("short_description", String), Column("description", Text), Column("assignee", String),
               *SPEC.schema())


def sql(clause) -> str:
    compiled = str(clause.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
    return " ".join(compiled.replace("%%", "%").split())  # the pyformat dialect's escape; one space between words


def test_a_text_is_bounded_in_length_and_in_words():
    assert words("  disk   full  ") == ["disk", "full"]
    assert len(words("a " * 100)) == MAX_WORDS
    assert words("x" * 500) == ["x" * MAX_TEXT]


def test_every_word_must_be_found_by_its_stem_or_a_correction_or_the_text_is_the_number():
    where = sql(matches(things, SPEC, "netwrok down"))
    assert "things.search @@ (websearch_to_tsquery('english'::regconfig, 'netwrok') || to_tsquery(" in where
    assert "things.search @@ (websearch_to_tsquery('english'::regconfig, 'down') || to_tsquery(" in where
    # The corrections: the vocabulary's words most similar to one that no title uses (and none for one that is).
    assert "FROM things_words WHERE things_words.word % 'netwrok' ORDER BY similarity(things_words.word, " in where
    assert "NOT (EXISTS (SELECT * FROM things_words WHERE things_words.word = 'netwrok'))" in where
    assert "<%" not in where and " AND " in where and "things.number = 'NETWROK DOWN'" in where


def test_a_word_too_short_or_not_a_word_is_not_corrected():
    assert "things_words" not in sql(matches(things, SPEC, "db"))
    assert "things_words" not in sql(matches(things, SPEC, "sign-on"))
    assert "things_words" in sql(matches(things, SPEC, "Printer"))
    assert "'printer'" in sql(matches(things, SPEC, "Printer")).split("things_words.word %")[1]  # as the titles


def test_an_id_a_hash_or_a_quantity_is_looked_for_as_written_never_corrected():
    # More than two digits: not a word anyone misspells, and not one the vocabulary keeps (it keeps log4j and p99).
    for token in ("ab12cd34", "0xdeadbeef42", "812ms"):
        assert "things_words" not in sql(matches(things, SPEC, token)), token
    for word in ("log4j", "p99", "ipv6"):
        assert "things_words" in sql(matches(things, SPEC, word)), word


def test_the_vocabulary_has_no_key_so_that_writers_never_wait_on_each_other():
    words = SPEC.vocabulary(MetaData())
    assert words.name == "things_words" and [c.name for c in words.c] == ["word"] and not words.primary_key
    assert {i.name for i in words.indexes} == {"things_words_by_word", "things_words_by_trigram"}
    assert [i.name for i in things.indexes] == ["things_by_search"]  # no trigram index on the records themselves


def test_a_stop_word_asks_nothing_and_a_word_with_no_letter_or_digit_finds_nothing():
    assert "numnode(websearch_to_tsquery('english'::regconfig, 'the')) = 0" in sql(matches(things, SPEC, "the"))
    assert "numnode" not in sql(matches(things, SPEC, "%"))
    assert sql(matches(things, SPEC, "   ")) == "false"


def test_the_title_weighs_more_than_the_body_in_the_generated_column():
    assert SPEC.vector == ("setweight(to_tsvector('english'::regconfig, coalesce(number, '') || ' ' || "
                           "coalesce(short_description, '')), 'A') || setweight(to_tsvector('english'::regconfig, "
                           "coalesce(description, '')), 'B')")


def test_any_word_matching_asks_for_any_shared_word_of_a_long_text():
    long = "printer blank pages " + "word " * 300 + "tail"
    where = sql(ranked_query(things, SPEC, long, [things.c.id], limit=5, any_word=True, bound=1000))
    matched = where.split(" WHERE things.search @@ ")[1]
    assert matched.lstrip("(").startswith(
        "CAST(replace(CAST(plainto_tsquery('english'::regconfig, 'printer blank pages")
    assert "' & ', ' | ')" in where and "websearch_to_tsquery" not in where  # not every word: any of them
    assert "tail" not in where  # past the bound


def test_at_most_fifty_hits_are_asked_for():
    assert "LIMIT 50" in sql(ranked_query(things, SPEC, "disk", [things.c.id], limit=1000))
    assert "LIMIT 1" in sql(ranked_query(things, SPEC, "disk", [things.c.id], limit=0))


# -- search bench (issue 18): ranking over a bounded set of candidates
def test_only_the_first_candidates_found_are_ranked():
    query = sql(ranked_query(things, SPEC, "printer", [things.c.id, things.c.number.label("shown")], limit=20))
    ranking, found = query.split(" FROM (SELECT things.id", 1)
    inner, outer = found.split(f"LIMIT {CANDIDATES}) AS candidates")
    assert "things.search @@ (websearch_to_tsquery('english'::regconfig, 'printer')" in inner  # found by the index
    assert "ts_rank_cd" not in inner and "ts_headline" not in inner  # nothing ranked before the bound
    assert ranking.startswith("SELECT candidates.id, candidates.number AS shown, ts_rank_cd(candidates.search")
    assert "ts_headline" in ranking
    assert outer.split() == ["ORDER", "BY", "score", "DESC,", "candidates.id", "LIMIT", "20"]


def test_candidates_carry_only_the_columns_ranking_and_the_caller_read():
    query = sql(ranked_query(things, SPEC, "printer", [things.c.id, things.c.number.label("shown")], limit=20))
    inner = "things.id" + query.split(" FROM (SELECT things.id", 1)[1].split(" FROM things ", 1)[0]
    carried = [c.split(" AS ")[0] for c in inner.split(", ")]
    # Not things.assignee: a wide row is slow to carry through the ranking.
    assert carried == ["things.id", "things.description", "things.number", "things.search", "things.short_description"]


def test_a_highlight_is_escaped_html_with_the_matches_marked():
    assert marked("<b>disk</b> \x02full\x03 & more") == "&lt;b&gt;disk&lt;/b&gt; <mark>full</mark> &amp; more"
    assert marked(None) == ""


def test_hits_of_several_kinds_merge_by_score_best_first():
    merged = scored({"incident": [{"id": "i1", "score": 0.5}, {"id": "i2", "score": 0.1}],
                     "change": [{"id": "c1", "score": 0.9}], "problem": [{"id": "p1", "score": 0.5}]}, 3)
    assert [(kind, hit["id"]) for kind, hit in merged] == [("change", "c1"), ("incident", "i1"), ("problem", "p1")]


def test_records_are_read_without_their_search_vector():
    """The generated tsvector is the database's to match on: reading it with every record would carry it (sizeable)
    to the service for nothing; the kit's repositories and the services' lists read the stored columns only."""
    from sqlalchemy import Column, Computed, MetaData, String, Table, func

    from itsm_kit.db import stored

    table = Table("notes", MetaData(), Column("id", String, primary_key=True), Column("text", String),
                  Column("search", postgresql.TSVECTOR, Computed(func.to_tsvector("english", "text"), persisted=True)))
    assert [c.name for c in stored(table).selected_columns] == ["id", "text"]
    assert "search" not in str(stored(table).compile(dialect=postgresql.dialect()))


def test_corrections_looked_up_first_are_asked_for_as_words_the_planner_can_weigh():
    where = sql(matches(things, SPEC, "netwrok Down", {"netwrok": "network | networks"}))
    assert ("things.search @@ (websearch_to_tsquery('english'::regconfig, 'netwrok') || "
            "to_tsquery('english'::regconfig, 'network | networks'))") in where
    assert "things_words" not in where  # no subquery: 'down' is a title word, so it has no correction
    assert "websearch_to_tsquery('english'::regconfig, 'Down') || CAST('' AS TSQUERY)" in where
