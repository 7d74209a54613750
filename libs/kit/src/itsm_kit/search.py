"""Search that ranks (issue 18): a record's text as a weighted tsvector kept by PostgreSQL (a generated column, GIN
indexed) plus trigram similarity of its title (pg_trgm, GIN indexed) so a misspelled word still finds it.

A service describes its table once (`Searchable`): the title columns (weight A), the body columns (weight B), the
title column trigrams are taken of, and the number column. From that come the table's column and indexes
(`schema()`, for store tables), the migration (`add(op)` / `drop(op)`), the filter a list uses (`matches(q)`) and the
ranked search (`ranked(...)`).

Matching: every word of the text must be found in the record, by its stem anywhere (`websearch_to_tsquery`) or
approximately in the title (`word_similarity >= SIMILARITY`, the `<%` operator, which the trigram index serves); a
stop word is no condition; a word with no letter or digit ("%") finds nothing. An exact number finds its record.
Ranking: ts_rank_cd of the record's text against any of the words (title counts more than body) plus the title's
word similarity to the whole text.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Column, ColumnElement, Computed, Index, Select, Table, Text, and_, cast, false, func, literal, literal_column, or_,
    select, text, true,
)
from sqlalchemy.dialects.postgresql import TSQUERY, TSVECTOR
from sqlalchemy.ext.asyncio import AsyncSession

LANGUAGE = "english"  # the one text search configuration: a generated column needs a fixed (immutable) one
MAX_TEXT = 200  # the longest text searched for (characters)
MAX_WORDS = 10  # words of a text that take part in matching; the rest still rank
MAX_HITS = 50
SIMILARITY = 0.5  # least word_similarity of a word to the title: "netwrok" ~ "network" (0.5), "databse" (0.75)
BODY_IN_HEADLINE = 2000  # characters of the body ts_headline reads (it parses all it is given)
MARK, UNMARK = "\x02", "\x03"  # ts_headline's selection marks, made <mark> after the text is HTML-escaped
HEADLINE_OPTIONS = f"StartSel={MARK}, StopSel={UNMARK}, MaxWords=30, MinWords=10, MaxFragments=2, FragmentDelimiter= … "

# The OR of a text's lexemes (stemmed, stop words dropped): any shared word matches, and ranking by it favours the
# records that have more of them, in their weightier parts. Format with (SQL text expression, length bound).
ANY_WORD = f"replace(plainto_tsquery('{LANGUAGE}', left({{}}, {{}}))::text, ' & ', ' | ')::tsquery"

_CONFIG = literal_column(f"'{LANGUAGE}'::regconfig")


def any_word_of(q: str) -> ColumnElement:
    """ANY_WORD of a text, as an expression."""
    return cast(func.replace(cast(func.plainto_tsquery(_CONFIG, q[:MAX_TEXT]), Text), " & ", " | "), TSQUERY)


def _text(columns: Sequence[str]) -> str:
    return " || ' ' || ".join(f"coalesce({c}, '')" for c in columns)


@dataclass(frozen=True)
class Searchable:
    table: str
    title: tuple[str, ...]  # weight A
    body: tuple[str, ...]  # weight B
    trigram: str  # the title column typos are looked for in
    number: str = "number"

    @property
    def vector(self) -> str:
        """The generated column's expression (immutable: a fixed configuration)."""
        return (f"setweight(to_tsvector('{LANGUAGE}'::regconfig, {_text(self.title)}), 'A')"
                f" || setweight(to_tsvector('{LANGUAGE}'::regconfig, {_text(self.body)}), 'B')")

    def schema(self) -> list[Any]:
        """The `search` column and both indexes, for the service's store table."""
        return [
            Column("search", TSVECTOR, Computed(self.vector, persisted=True), nullable=False),
            Index(f"{self.table}_by_search", "search", postgresql_using="gin"),
            Index(f"{self.table}_by_trigram", self.trigram, postgresql_using="gin",
                  postgresql_ops={self.trigram: "gin_trgm_ops"}),
        ]

    def add(self, op: Any) -> None:
        """Migration: the extension, the generated column (computed for every row already there) and the indexes."""
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute(f"ALTER TABLE {self.table} ADD COLUMN search tsvector NOT NULL"
                   f" GENERATED ALWAYS AS ({self.vector}) STORED")
        op.create_index(f"{self.table}_by_search", self.table, ["search"], postgresql_using="gin")
        op.create_index(f"{self.table}_by_trigram", self.table, [self.trigram], postgresql_using="gin",
                        postgresql_ops={self.trigram: "gin_trgm_ops"})

    def drop(self, op: Any) -> None:
        op.drop_index(f"{self.table}_by_trigram", self.table)
        op.drop_index(f"{self.table}_by_search", self.table)
        op.drop_column(self.table, "search")


def bounded(q: str) -> str:
    return q.strip()[:MAX_TEXT]


def words(q: str) -> list[str]:
    return bounded(q).split()[:MAX_WORDS]


def matches(table: Table, spec: Searchable, q: str) -> ColumnElement[bool]:
    """The records `q` finds (see the module's doc). Run `await similar_words(session)` in the same transaction."""
    search, title = table.c.search, table.c[spec.trigram]
    found = []
    for word in words(q):
        query = func.websearch_to_tsquery(_CONFIG, word)
        arms = [search.op("@@")(query), literal(word).op("<%")(title)]
        if any(ch.isalnum() for ch in word):
            arms.append(func.numnode(query) == 0)  # a stop word: no condition
        found.append(or_(*arms))
    if not found:
        return false()
    return or_(and_(*found), table.c[spec.number] == bounded(q).upper())


async def similar_words(session: AsyncSession) -> None:
    """`<%` compares with this setting; for this transaction only."""
    await session.execute(text("SELECT set_config('pg_trgm.word_similarity_threshold', :least, true)"),
                          {"least": str(SIMILARITY)})


def ranked_query(table: Table, spec: Searchable, q: str, columns: Sequence[ColumnElement], *, limit: int,
                 where: ColumnElement[bool] = true()) -> Select:
    q = bounded(q)
    title = table.c[spec.trigram]
    any_word = any_word_of(q)
    score = (func.ts_rank_cd(table.c.search, any_word) + func.word_similarity(literal(q), title)).label("score")
    shown = func.concat_ws(" — ", *(table.c[c] for c in spec.title),
                           func.left(func.concat_ws(" ", *(table.c[c] for c in spec.body)), BODY_IN_HEADLINE))
    headline = func.ts_headline(_CONFIG, shown, any_word, HEADLINE_OPTIONS).label("highlight")
    return (select(*columns, score, headline).where(matches(table, spec, q), where)
            .order_by(score.desc(), table.c.id).limit(max(1, min(limit, MAX_HITS))))


def marked(headline: str | None) -> str:
    """ts_headline's text made safe to show as HTML: escaped, the matched words in <mark>."""
    return html.escape(headline or "").replace(MARK, "<mark>").replace(UNMARK, "</mark>")


async def ranked(session: AsyncSession, table: Table, spec: Searchable, q: str, columns: Sequence[ColumnElement], *,
                 limit: int, where: ColumnElement[bool] = true()) -> list[dict[str, Any]]:
    """The best `limit` records for `q`, best first: `columns`, `score` and `highlight` each."""
    await similar_words(session)
    rows = await session.execute(ranked_query(table, spec, q, columns, limit=limit, where=where))
    return [{**row, "score": float(row["score"]), "highlight": marked(row["highlight"])}
            for row in (dict(r._mapping) for r in rows.all())]


def scored(hits: Mapping[str, Sequence[Mapping[str, Any]]], limit: int) -> list[tuple[str, Mapping[str, Any]]]:
    """Hits of several kinds merged into one list by score, best first (ties: kind, then id, so it is stable)."""
    merged = [(kind, hit) for kind, some in hits.items() for hit in some]
    merged.sort(key=lambda pair: (-float(pair[1]["score"]), pair[0], str(pair[1].get("id"))))
    return merged[:limit]
