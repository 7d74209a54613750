"""One search across the platform (issue 18): the services' ranked searches asked concurrently, merged into one list
by score. What the caller may see decides what is asked: a requester, only the incidents they are the caller of (no
problems, no changes); those who work records, all of them. Everyone finds the published knowledge articles they may
read (the knowledge service filters by `reader`, set here from the role, never the client's, and by their groups).
A service that fails or is late is left out and named in `partial`: the others still answer.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import TypeAdapter

from itsm_contracts.api.search import (
    ArticleHit, ChangeHit, Hit, IncidentHit, ProblemHit, SearchHit, SearchQuery, SearchResults,
)
from itsm_kit.runtime import Runtime, RuntimeDep
from itsm_kit.search import scored
from itsm_gateway.access import scoped_incident_query, sees_all_incidents
from itsm_gateway.api.knowledge import reader_of
from itsm_gateway.api.screens import Parts
from itsm_gateway.auth import RequesterUser, RoleRoute, User, works
from itsm_gateway.upstream import call

router = APIRouter(prefix="/search", tags=["search"], route_class=RoleRoute)

# record type -> (service, path, the service's hit)
SOURCES: dict[str, tuple[str, str, type[Hit]]] = {
    "incident": ("incidents", "/incidents/search", IncidentHit),
    "problem": ("problems", "/problems/search", ProblemHit),
    "change": ("changes", "/changes/search", ChangeHit),
    "article": ("knowledge", "/articles/search", ArticleHit),
}


def searched(user: User) -> list[str]:
    """The record types the user may find: a requester only (their own) incidents and the articles for them."""
    return list(SOURCES) if works(user) else ["incident", "article"]


async def _hits(runtime: Runtime, user: User, record_type: str, params: list[tuple[str, Any]]) -> list[Hit]:
    service, path, model = SOURCES[record_type]
    if record_type == "incident" and not sees_all_incidents(user):
        params = scoped_incident_query(user, params)  # a requester's own incidents only
    if record_type == "article":
        params = [*params, ("reader", reader_of(user))]  # what the role may read
    upstream = await call(runtime, service, "GET", path, actor=user, params=params)
    return TypeAdapter(list[model]).validate_json(upstream.content)  # type: ignore[valid-type]


@router.get("", response_model=SearchResults,
            summary="Search incidents, problems, changes and knowledge articles at once: one list, best first "
                    "(requesters: their own incidents and the articles for them); a service that does not answer in "
                    "time is named in `partial`")
async def search_records(user: RequesterUser, runtime: RuntimeDep,
                         query: Annotated[SearchQuery, Query()]) -> SearchResults:
    parts = Parts(runtime)
    kinds = searched(user)
    params = [("q", query.q), ("limit", str(query.limit))]
    found = await asyncio.gather(*(parts.optional(kind, _hits(runtime, user, kind, params)) for kind in kinds))
    merged = scored({kind: [hit.model_dump() for hit in hits or []] for kind, hits in zip(kinds, found)}, query.limit)
    return SearchResults(
        items=[SearchHit(record_type=kind, id=hit["id"], number=hit["number"], title=hit["short_description"],
                         state=hit["state"], highlight=hit["highlight"], score=hit["score"]) for kind, hit in merged],
        partial=parts.named(kinds),
    )
