"""Reads: the ranked search of published articles, and suggestions for a record (reads only, nothing written)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from itsm_contracts.api.knowledge import Reader
from itsm_kit.unit_of_work import UnitOfWork
from itsm_knowledge.domain.suggestions import Suggestion, bounded_text, reads_known_errors, suggested
from itsm_knowledge.store import suggestions as store


async def search_articles(uow: UnitOfWork, q: str, *, reader: Reader, groups: Collection[str],
                          limit: int) -> list[dict[str, Any]]:
    async with uow:
        return await store.search_articles(uow.session, q, reader=reader, groups=groups, limit=limit)


async def suggest(uow: UnitOfWork, text: str, *, reader: Reader, groups: Collection[str], ci: str | None = None,
                  category: str | None = None, limit: int = 5) -> list[Suggestion]:
    """What most likely helps with a record of this text, CI and category, best first (domain/suggestions.py)."""
    text = bounded_text(text)
    async with uow:
        found = await store.article_candidates(uow.session, text, reader=reader, groups=groups)
        articles_of = {}
        if reads_known_errors(reader):
            known = await store.known_error_candidates(uow.session, text)
            found += known
            articles_of = await store.articles_of_known_errors(uow.session, (k.id for k in known), reader=reader,
                                                               groups=groups)
    return suggested(found, ci=ci, category=category, articles_of_known_errors=articles_of, limit=limit)
