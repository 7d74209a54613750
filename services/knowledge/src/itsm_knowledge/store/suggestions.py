"""Finding articles and known errors by text (itsm_kit.search): the ranked search of published articles, and the
candidates suggestions weigh (any word of a record's text matches)."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from itsm_contracts.api.knowledge import Reader
from itsm_kit.search import ranked
from itsm_knowledge.domain.suggestions import CANDIDATES, Candidate
from itsm_knowledge.store.audience import readable
from itsm_knowledge.store.tables import ARTICLE_SEARCH, KNOWN_ERROR_SEARCH, articles, known_errors

PUBLISHED = "published"


def _for(reader: Reader, groups: Collection[str]) -> ColumnElement[bool]:
    """Published articles the reader may read: nobody finds a draft, nor an article not for them."""
    return and_(articles.c.state == PUBLISHED, readable(reader, groups))


# An article's known error's CIs (while it holds): an incident on one of them is likely its case.
_ARTICLE_CIS = (select(known_errors.c.affected_cis)
                .where(known_errors.c.id == articles.c.known_error_id, known_errors.c.retired_at.is_(None))
                .scalar_subquery().label("affected_cis"))
_ARTICLE_COLUMNS = (articles.c.id, articles.c.number, articles.c.title, articles.c.category, articles.c.attached,
                    articles.c.helpful, articles.c.not_helpful, articles.c.known_error_id, _ARTICLE_CIS)


async def search_articles(session: AsyncSession, q: str, *, reader: Reader, groups: Collection[str],
                          limit: int) -> list[dict[str, Any]]:
    """The published articles the reader may read that `q` finds best, best first (as incidents are searched)."""
    c = articles.c
    return await ranked(session, articles, ARTICLE_SEARCH, q,
                        [c.id, c.number, c.title.label("short_description"), c.state, c.audience], limit=limit,
                        where=_for(reader, groups))


def _article(row: dict[str, Any]) -> Candidate:
    """An article row as a candidate (with no text score where its text was not searched)."""
    return Candidate(kind="article", id=row["id"], number=row["number"], title=row["title"],
                     text_score=row.get("score", 0.0), highlight=row.get("highlight", ""),
                     category=row["category"], affected_cis=frozenset(row["affected_cis"] or ()),
                     attached=row["attached"], helpful=row["helpful"], not_helpful=row["not_helpful"],
                     known_error_id=row["known_error_id"])


async def article_candidates(session: AsyncSession, text: str, *, reader: Reader,
                             groups: Collection[str]) -> list[Candidate]:
    """The published articles the reader may read that share any word with `text`, best text match first."""
    rows = await ranked(session, articles, ARTICLE_SEARCH, text, _ARTICLE_COLUMNS, limit=CANDIDATES,
                        where=_for(reader, groups), any_word=True, bound=len(text))
    return [_article(row) for row in rows]


async def known_error_candidates(session: AsyncSession, text: str) -> list[Candidate]:
    """The known errors still holding that share any word with `text`, best text match first."""
    k = known_errors.c
    rows = await ranked(session, known_errors, KNOWN_ERROR_SEARCH, text, [k.id, k.number, k.title, k.affected_cis],
                        limit=CANDIDATES, where=k.retired_at.is_(None), any_word=True, bound=len(text))
    return [Candidate(kind="known_error", id=row["id"], number=row["number"], title=row["title"],
                      text_score=row["score"], highlight=row["highlight"],
                      affected_cis=frozenset(row["affected_cis"] or ())) for row in rows]


async def articles_of_known_errors(session: AsyncSession, known_error_ids: Iterable[str], *, reader: Reader,
                                   groups: Collection[str]) -> dict[str, Candidate]:
    """Known error id -> its published article the reader may read (no text score of its own)."""
    ids = sorted(set(known_error_ids))
    if not ids:
        return {}
    rows = await session.execute(select(*_ARTICLE_COLUMNS)
                                 .where(articles.c.known_error_id.in_(ids), _for(reader, groups)))
    return {row["known_error_id"]: _article(row) for row in (dict(r._mapping) for r in rows.all())}
