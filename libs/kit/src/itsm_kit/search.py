"""Search that ranks (issue 18): a record's text as a weighted tsvector kept by PostgreSQL (a generated column, GIN
indexed), and a vocabulary of the words its titles use (trigram indexed) so that a misspelled word still finds it.

A service describes its table once (`Searchable`): the title columns (weight A), the body columns (weight B), the
title column whose words make the vocabulary, and the number column. From that come the table's column and index
(`schema()`) and its vocabulary table (`vocabulary(metadata)`), for store tables; the migrations (`add(op)`, then
`add_vocabulary(op)`); the filter a list uses (`matches(q)`) and the ranked search (`ranked(...)`).

Matching: every word of the text must be found in the record by its stem (`websearch_to_tsquery`), or, for a word
that no title uses, one of the CORRECTIONS title words most similar to it (trigram `similarity >= SIMILARITY`) must
be ("netwrok" is looked for as "network"); a stop word is no condition; a word with no letter or digit ("%") finds
nothing. An exact number finds its record. So one GIN scan of the text index finds the records, however many there
are: the typos are looked up in the vocabulary (thousands of words), not in the titles (millions of records).
Ranking: ts_rank_cd of the record's text against any of the words and their corrections (title counts more than
body) plus the title's word similarity to the whole text, over the first CANDIDATES records found (a common word
finds far more).
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Column, ColumnElement, Computed, Index, MetaData, Select, String, Table, Text, and_, cast, column, exists, false,
    func, literal, literal_column, or_, select, table as table_clause, text, true,
)
from sqlalchemy.dialects.postgresql import TSQUERY, TSVECTOR
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.util import ClauseAdapter
from sqlalchemy.sql.visitors import iterate

LANGUAGE = "english"  # the one text search configuration: a generated column needs a fixed (immutable) one
MAX_TEXT = 200  # the longest text searched for (characters)
MAX_WORDS = 10  # words of a text that take part in matching; the rest still rank
MAX_HITS = 50
# Matches ranked at most (bench/search.py): ranking reads each one's row, and a common word ("printer") matches a
# tenth of a million incidents. Past this many, the best are those of the first CANDIDATES found. Over a million
# incidents, 500 rather than 1,000 took a search's p99 from 25 to 16 ms (bench/search.py's texts).
CANDIDATES = 500
# For the bitmaps of a search's index scans: a bitmap over 4 MB (the default) goes lossy, and every row of a lossy
# page is read and its text compared again.
SEARCH_WORK_MEM = "16MB"
# A search is planned for its words, every time (plan_cache_mode): a prepared statement's generic plan, made after a
# few runs, knows nothing of how common the words are and can scan a million records for a rare one.
# Least trigram similarity of a title word to a word no title uses, for it to be looked for instead: "netwrok" ~
# "network" (0.33), "databse" ~ "database" (0.55), "tunel" ~ "tunnel" (0.63). Loose, since a word any title uses is
# never corrected ("printer" is not taken for "pointer"); at most CORRECTIONS of the most similar are.
SIMILARITY = 0.3
CORRECTIONS = 3
WORD_LENGTH = (3, 40)  # the vocabulary's words: shorter ones are too ambiguous to correct, longer ones are not words
# A token with more digits than this is an id, a hash or a quantity (a1b2c3d4, 0xdeadbeef, 812ms), not a word anyone
# misspells: not in the vocabulary, and never corrected. An alert storm's titles carry a new one per alert, and each
# cost a trigram index insert and grew the vocabulary by a row for ever (an incident insert: 121 us, 74 without the
# vocabulary's trigger, on 8,000 alert-like titles).
MOST_DIGITS = 2
BODY_IN_HEADLINE = 2000  # characters of the body ts_headline reads (it parses all it is given)
MARK, UNMARK = "\x02", "\x03"  # ts_headline's selection marks, made <mark> after the text is HTML-escaped
HEADLINE_OPTIONS = f"StartSel={MARK}, StopSel={UNMARK}, MaxWords=30, MinWords=10, MaxFragments=2, FragmentDelimiter= … "

# The OR of a text's lexemes (stemmed, stop words dropped): any shared word matches, and ranking by it favours the
# records that have more of them, in their weightier parts. Format with (SQL text expression, length bound).
ANY_WORD = f"replace(plainto_tsquery('{LANGUAGE}', left({{}}, {{}}))::text, ' & ', ' | ')::tsquery"

_CONFIG = literal_column(f"'{LANGUAGE}'::regconfig")


def any_word_of(q: str, bound: int = MAX_TEXT) -> ColumnElement:
    """ANY_WORD of a text (its first `bound` characters), as an expression."""
    return cast(func.replace(cast(func.plainto_tsquery(_CONFIG, q[:bound]), Text), " & ", " | "), TSQUERY)


def _text(columns: Sequence[str]) -> str:
    return " || ' ' || ".join(f"coalesce({c}, '')" for c in columns)


@dataclass(frozen=True)
class Searchable:
    table: str
    title: tuple[str, ...]  # weight A
    body: tuple[str, ...]  # weight B
    trigram: str  # the title column: its words are the vocabulary typos are corrected to
    number: str = "number"

    @property
    def vector(self) -> str:
        """The generated column's expression (immutable: a fixed configuration)."""
        return (f"setweight(to_tsvector('{LANGUAGE}'::regconfig, {_text(self.title)}), 'A')"
                f" || setweight(to_tsvector('{LANGUAGE}'::regconfig, {_text(self.body)}), 'B')")

    @property
    def words(self) -> str:
        """The vocabulary's table."""
        return f"{self.table}_words"

    def schema(self) -> list[Any]:
        """The `search` column and its index, for the service's store table."""
        return [
            Column("search", TSVECTOR, Computed(self.vector, persisted=True), nullable=False),
            Index(f"{self.table}_by_search", "search", postgresql_using="gin"),
        ]

    def vocabulary(self, metadata: MetaData) -> Table:
        """The words the titles use, for the service's store tables. No key: a trigger adds a title's new words,
        and two transactions adding the same one must not wait on (or deadlock with) each other; twice is harmless."""
        return Table(
            self.words, metadata,
            Column("word", String(WORD_LENGTH[1]), nullable=False),
            Index(f"{self.words}_by_word", "word"),
            Index(f"{self.words}_by_trigram", "word", postgresql_using="gin", postgresql_ops={"word": "gin_trgm_ops"}),
        )

    def add(self, op: Any) -> None:
        """Migration, first revision: the extension, the generated column (computed for every row already there), its
        index and a trigram index of the title (which add_vocabulary replaces)."""
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

    def _title_words(self, most_digits: int | None, title: str | None = None) -> str:
        """The words the vocabulary keeps of one title (`title`: SQL), or of every title in the table."""
        source = f"{self.table}, " if title is None else ""
        title = title or f"{self.table}.{self.trigram}"
        return (f"SELECT DISTINCT w FROM {source}regexp_split_to_table(lower(coalesce({title}, '')), '[^[:alnum:]]+')"
                f" AS w WHERE {_a_word('w', most_digits)}")

    def _add_new_words(self, most_digits: int | None, title: str | None = None) -> str:
        """INSERT of the words of one title (`title`: SQL), or of every title, that the vocabulary lacks."""
        return (f"INSERT INTO {self.words} (word) SELECT t.w FROM ({self._title_words(most_digits, title)}) AS t"
                f" WHERE NOT EXISTS (SELECT 1 FROM {self.words} AS v WHERE v.word = t.w)")

    def _kept(self, most_digits: int | None) -> str:
        """The trigger function that adds a title's new words to the vocabulary."""
        return f"""CREATE OR REPLACE FUNCTION {self.words}_kept() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    {self._add_new_words(most_digits, f"NEW.{self.trigram}")};
    RETURN NULL;
END $$"""

    def add_vocabulary(self, op: Any, most_digits: int | None = MOST_DIGITS) -> None:
        """Migration: the vocabulary (filled from the titles there, then kept by triggers as titles are written) in
        place of the title's trigram index, which every record written had to update."""
        words, title = self.words, self.trigram
        op.execute(f"CREATE TABLE {words} (word varchar({WORD_LENGTH[1]}) NOT NULL)")
        op.execute(f"INSERT INTO {words} (word) {self._title_words(most_digits)}")
        op.create_index(f"{words}_by_word", words, ["word"])
        op.create_index(f"{words}_by_trigram", words, ["word"], postgresql_using="gin",
                        postgresql_ops={"word": "gin_trgm_ops"})
        op.execute(self._kept(most_digits))
        op.execute(f"CREATE TRIGGER {words}_kept_on_insert AFTER INSERT ON {self.table}"
                   f" FOR EACH ROW EXECUTE FUNCTION {words}_kept()")
        op.execute(f"CREATE TRIGGER {words}_kept_on_update AFTER UPDATE OF {title} ON {self.table}"
                   f" FOR EACH ROW WHEN (OLD.{title} IS DISTINCT FROM NEW.{title}) EXECUTE FUNCTION {words}_kept()")
        op.drop_index(f"{self.table}_by_trigram", self.table)

    def refresh_vocabulary(self, op: Any, most_digits: int | None = MOST_DIGITS) -> None:
        """Migration, when what counts as a word changes (MOST_DIGITS; None: no limit, as before it): the trigger
        keeps the new rule, and the vocabulary is what it would have kept of the titles there."""
        op.execute(self._kept(most_digits))
        op.execute(f"DELETE FROM {self.words} WHERE NOT ({_a_word('word', most_digits)})")
        op.execute(self._add_new_words(most_digits))

    def drop_vocabulary(self, op: Any) -> None:
        op.create_index(f"{self.table}_by_trigram", self.table, [self.trigram], postgresql_using="gin",
                        postgresql_ops={self.trigram: "gin_trgm_ops"})
        op.execute(f"DROP TRIGGER {self.words}_kept_on_update ON {self.table}")
        op.execute(f"DROP TRIGGER {self.words}_kept_on_insert ON {self.table}")
        op.execute(f"DROP FUNCTION {self.words}_kept()")
        op.drop_table(self.words)


def _a_word(token: str, most_digits: int | None) -> str:
    """Whether a title's token (lowercased, letters and digits; SQL) is a word the vocabulary keeps."""
    condition = f"length({token}) BETWEEN {WORD_LENGTH[0]} AND {WORD_LENGTH[1]} AND {token} ~ '[[:alpha:]]'"
    return condition if most_digits is None else f"{condition} AND {token} !~ '([0-9][^0-9]*){{{most_digits + 1}}}'"


def bounded(q: str) -> str:
    return q.strip()[:MAX_TEXT]


def words(q: str) -> list[str]:
    return bounded(q).split()[:MAX_WORDS]


# The corrections of a search's words, looked up before it (`corrected`): word -> "network | networks".
Corrected = Mapping[str, str]


def _correctable(word: str) -> str | None:
    word = word.strip(".,;:!?()[]\"'").lower()
    digits = sum(ch in "0123456789" for ch in word)
    return word if WORD_LENGTH[0] <= len(word) <= WORD_LENGTH[1] and word.isalnum() and digits <= MOST_DIGITS else None


def corrections(spec: Searchable, word: str, found: Corrected | None = None) -> ColumnElement:
    """The tsquery of the title words `word` most likely misspells (any of them): empty when a title uses `word`
    itself, or it is too short to tell. From `found` when the search looked them up first (`corrected`), else a
    subquery PostgreSQL runs once per query, on the vocabulary."""
    word = _correctable(word)
    if word is None or (found is not None and word not in found):
        return cast(literal(""), TSQUERY)
    if found is not None:
        return func.to_tsquery(_CONFIG, literal(found[word], String))
    vocabulary = table_clause(spec.words, column("word"))
    said = literal(word, String)
    nearest = (select(vocabulary.c.word).where(vocabulary.c.word.op("%")(said))
               .order_by(func.similarity(vocabulary.c.word, said).desc(), vocabulary.c.word)
               .limit(CORRECTIONS).subquery("nearest"))
    listed = (select(func.string_agg(nearest.c.word, " | "))
              .where(~exists().where(vocabulary.c.word == said)).scalar_subquery())
    # The vocabulary's words are letters and digits only: nothing in them reads as tsquery syntax.
    return func.to_tsquery(_CONFIG, func.coalesce(listed, ""))


async def corrected(session: AsyncSession, spec: Searchable, q: str) -> dict[str, str]:
    """The corrections of the first MAX_WORDS words of `q` (as `matches` reads it) that no title uses, looked
    up before the search so that its plan is made for the words it will look for (a subquery's are unknown to the
    planner, which then reads every match of a common word). Run `similar_words` first, in the same transaction."""
    asked = sorted({w for w in map(_correctable, words(q)) if w})
    if not asked:
        return {}
    rows = await session.execute(text(
        f"SELECT asked.w, (SELECT string_agg(nearest.word, ' | ') FROM (SELECT v.word FROM {spec.words} AS v"
        f" WHERE v.word % asked.w ORDER BY similarity(v.word, asked.w) DESC, v.word LIMIT :most) AS nearest)"
        f" FROM unnest(CAST(:asked AS text[])) AS asked(w)"
        f" WHERE NOT EXISTS (SELECT 1 FROM {spec.words} AS v WHERE v.word = asked.w)"),
        {"asked": asked, "most": CORRECTIONS})
    return {word: listed for word, listed in rows.all() if listed}


def matches(table: Table, spec: Searchable, q: str, found: Corrected | None = None) -> ColumnElement[bool]:
    """The records `q` finds (see the module's doc). Run `await similar_words(session)` in the same transaction;
    `found`: the corrections, when looked up first (`corrected`)."""
    search = table.c.search
    found_words = []
    for word in words(q):
        query = func.websearch_to_tsquery(_CONFIG, word)
        arms = [search.op("@@")(query.op("||")(corrections(spec, word, found)))]
        if any(ch.isalnum() for ch in word):
            arms.append(func.numnode(query) == 0)  # a stop word: no condition
        found_words.append(or_(*arms))
    if not found_words:
        return false()
    return or_(and_(*found_words), table.c[spec.number] == bounded(q).upper())


# Corrections (`%`) compare with this setting.
SIMILAR_WORDS = {"pg_trgm.similarity_threshold": str(SIMILARITY)}
# What a ranked search sets besides (see SEARCH_WORK_MEM and the plan note above it).
RANKING = {**SIMILAR_WORDS, "work_mem": SEARCH_WORK_MEM, "plan_cache_mode": "force_custom_plan"}


async def _settings(session: AsyncSession, settings: Mapping[str, str]) -> None:
    """These settings for this transaction only, in one round trip."""
    names = list(settings)
    await session.execute(
        text("SELECT " + ", ".join(f"set_config(:name{n}, :value{n}, true)" for n in range(len(names)))),
        {**{f"name{n}": name for n, name in enumerate(names)},
         **{f"value{n}": settings[name] for n, name in enumerate(names)}})


async def similar_words(session: AsyncSession) -> None:
    """Corrections (`%`) compare with SIMILAR_WORDS; for this transaction only."""
    await _settings(session, SIMILAR_WORDS)


def _any_word_corrected(spec: Searchable, q: str, bound: int, found: Corrected | None) -> ColumnElement:
    """Any word of `q` (its first `bound` characters), or a correction of one of its first MAX_WORDS words."""
    query = any_word_of(q, bound)
    for word in q[:bound].split()[:MAX_WORDS]:
        query = query.op("||")(corrections(spec, word, found))
    return query


def any_word_matches(table: Table, spec: Searchable, q: str, bound: int = MAX_TEXT) -> ColumnElement[bool]:
    """The records sharing any word of `q` by its stem: for a long text (an incident's description, to find what
    may help with it) that no record contains every word of. Not corrected: a long text's many words have enough
    right ones, and its names (hosts, error codes) would each be "corrected" to some title word."""
    q = q.strip()[:bound]
    return table.c.search.op("@@")(any_word_of(q, bound))


def ranked_query(table: Table, spec: Searchable, q: str, columns: Sequence[ColumnElement], *, limit: int,
                 where: ColumnElement[bool] = true(), any_word: bool = False, bound: int = MAX_TEXT,
                 found: Corrected | None = None) -> Select:
    """`any_word`: match as any_word_matches does (of the text's first `bound` characters), not every word.
    `found`: the words' corrections, when looked up first (`corrected`)."""
    q = q.strip()[:bound] if any_word else bounded(q)
    hit = any_word_matches(table, spec, q, bound) if any_word else matches(table, spec, q, found)
    # Matching (the indexes) first, bounded; ranking and highlighting only over those found. Only the columns these
    # read: a whole row is wide (an incident's is forty columns), and each is carried through the ranking.
    needed = {table.c.search, table.c[spec.trigram], *(table.c[c] for c in spec.title + spec.body)}
    needed |= {c for expression in columns for c in iterate(expression) if isinstance(c, Column) and c.table is table}
    candidates = (select(table.c.id, *sorted(needed - {table.c.id}, key=lambda c: c.name)).where(hit, where)
                  .limit(CANDIDATES).subquery("candidates"))
    row = candidates.c
    any_word_q = any_word_of(q, bound) if any_word else _any_word_corrected(spec, q, bound, found)
    score = (func.ts_rank_cd(row.search, any_word_q)
             + func.word_similarity(literal(q), row[spec.trigram])).label("score")
    shown = func.concat_ws(" — ", *(row[c] for c in spec.title),
                           func.left(func.concat_ws(" ", *(row[c] for c in spec.body)), BODY_IN_HEADLINE))
    headline = func.ts_headline(_CONFIG, shown, any_word_q, HEADLINE_OPTIONS).label("highlight")
    return (select(*(ClauseAdapter(candidates).traverse(column) for column in columns), score, headline)
            .order_by(score.desc(), row.id).limit(max(1, min(limit, MAX_HITS))))


def marked(headline: str | None) -> str:
    """ts_headline's text made safe to show as HTML: escaped, the matched words in <mark>."""
    return html.escape(headline or "").replace(MARK, "<mark>").replace(UNMARK, "</mark>")


async def ranked(session: AsyncSession, table: Table, spec: Searchable, q: str, columns: Sequence[ColumnElement], *,
                 limit: int, where: ColumnElement[bool] = true(), any_word: bool = False,
                 bound: int = MAX_TEXT) -> list[dict[str, Any]]:
    """The best `limit` records for `q`, best first: `columns`, `score` and `highlight` each (`any_word`, `bound`:
    see ranked_query)."""
    await _settings(session, RANKING)  # similar_words' setting among them
    found = {} if any_word else await corrected(session, spec, q)
    rows = await session.execute(ranked_query(table, spec, q, columns, limit=limit, where=where, any_word=any_word,
                                              bound=bound, found=found))
    return [{**row, "score": float(row["score"]), "highlight": marked(row["highlight"])}
            for row in (dict(r._mapping) for r in rows.all())]


def scored(hits: Mapping[str, Sequence[Mapping[str, Any]]], limit: int) -> list[tuple[str, Mapping[str, Any]]]:
    """Hits of several kinds merged into one list by score, best first (ties: kind, then id, so it is stable)."""
    merged = [(kind, hit) for kind, some in hits.items() for hit in some]
    merged.sort(key=lambda pair: (-float(pair[1]["score"]), pair[0], str(pair[1].get("id"))))
    return merged[:limit]
