"""itsm_kit.search's pure parts: what a text becomes, how hits merge, what a highlight may carry."""

from __future__ import annotations

from sqlalchemy import Column, MetaData, String, Table, Text
from sqlalchemy.dialects import postgresql

from itsm_kit.search import MAX_TEXT, MAX_WORDS, Searchable, marked, matches, ranked_query, scored, words

SPEC = Searchable("things", title=("number", "short_description"), body=("description",), trigram="short_description")
things = Table("things", MetaData(), Column("id", String, primary_key=True), Column("number", String),
               Column("short_description", String), Column("description", Text), *SPEC.schema())


def sql(clause) -> str:
    compiled = str(clause.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
    return compiled.replace("%%", "%")  # the pyformat dialect's escape


def test_a_text_is_bounded_in_length_and_in_words():
    assert words("  disk   full  ") == ["disk", "full"]
    assert len(words("a " * 100)) == MAX_WORDS
    assert words("x" * 500) == ["x" * MAX_TEXT]


def test_every_word_must_be_found_by_its_stem_or_its_trigrams_or_the_text_is_the_number():
    where = sql(matches(things, SPEC, "netwrok down"))
    assert "things.search @@ websearch_to_tsquery('english'::regconfig, 'netwrok')" in where
    assert "things.search @@ websearch_to_tsquery('english'::regconfig, 'down')" in where
    assert "'netwrok' <% things.short_description" in where and "'down' <% things.short_description" in where
    assert " AND " in where and "things.number = 'NETWROK DOWN'" in where


def test_a_stop_word_asks_nothing_and_a_word_with_no_letter_or_digit_finds_nothing():
    assert "numnode(websearch_to_tsquery('english'::regconfig, 'the')) = 0" in sql(matches(things, SPEC, "the"))
    assert "numnode" not in sql(matches(things, SPEC, "%"))
    assert sql(matches(things, SPEC, "   ")) == "false"


def test_the_title_weighs_more_than_the_body_in_the_generated_column():
    assert SPEC.vector == ("setweight(to_tsvector('english'::regconfig, coalesce(number, '') || ' ' || "
                           "coalesce(short_description, '')), 'A') || setweight(to_tsvector('english'::regconfig, "
                           "coalesce(description, '')), 'B')")


def test_at_most_fifty_hits_are_asked_for():
    assert "LIMIT 50" in sql(ranked_query(things, SPEC, "disk", [things.c.id], limit=1000))
    assert "LIMIT 1" in sql(ranked_query(things, SPEC, "disk", [things.c.id], limit=0))


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
