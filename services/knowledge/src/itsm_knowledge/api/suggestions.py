"""suggestions (issue 18): the ranked search of published articles, and what may help with a record.

Both read only what `reader` (set by the gateway from the caller's role) and the caller's groups may read; known
errors are suggested to agents and admins only.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Query

from itsm_contracts.api.knowledge import Reader, Suggestion, SuggestionAsk
from itsm_contracts.api.search import ArticleHit, ArticleSearchQuery
from itsm_kit.api import ActorGroups
from itsm_kit.runtime import UnitOfWorkDep
from itsm_knowledge.handlers import suggestions as handlers

router = APIRouter(tags=["suggestions"])


@router.get("/articles/search", response_model=list[ArticleHit],
            summary="The published articles the reader may read that a text finds, best first (words, misspellings)")
async def search_articles(uow: UnitOfWorkDep, groups: ActorGroups,
                          query: Annotated[ArticleSearchQuery, Query()]) -> list[ArticleHit]:
    hits = await handlers.search_articles(uow, query.q, reader=query.reader, groups=groups, limit=query.limit)
    return [ArticleHit(**hit) for hit in hits]


@router.post("/suggestions", response_model=list[Suggestion],
             summary="What most likely helps with a record: published articles (and, for agents, known errors) "
                     "by its text, CI and category, and what helped before; best first")
async def suggest(body: SuggestionAsk, uow: UnitOfWorkDep, groups: ActorGroups,
                  reader: Annotated[Reader, Query(description="who reads, set by the gateway")] = "requester",
                  ) -> list[Suggestion]:
    found = await handlers.suggest(uow, body.text, reader=reader, groups=groups, ci=body.ci, category=body.category,
                                   limit=body.limit)
    return [Suggestion(**asdict(s)) for s in found]
