"""Suggestions while working (issue 18): what may help with an incident or request, and attaching an article to one.

The record is read from its own service (an unknown one is its 404, and nothing is written); its text, CI and
category go to the knowledge service, which answers with the published articles the agent may read and the known
errors (`reader` set here from the role, never the client's). Attaching records that the article helped resolve it:
the knowledge service counts it once per record (suggestions rank by it) and announces it; the incidents service
notes it on the incident's timeline.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import TypeAdapter

from itsm_contracts.api.knowledge import (
    MAX_SUGGESTION_TEXT, ArticleAttach, ArticleAttachment, ArticlePublic, Suggestion, SuggestionAsk,
)
from itsm_kit.api import Ident
from itsm_kit.runtime import Runtime, RuntimeDep
from itsm_gateway.access import readable_incident
from itsm_gateway.api.knowledge import reader_of
from itsm_gateway.auth import AgentUser, RoleRoute, User
from itsm_gateway.upstream import call

router = APIRouter(tags=["knowledge"], route_class=RoleRoute)
# A few to read while working; the knowledge service gives at most 20.
SuggestionLimit = Annotated[int, Query(ge=1, le=20, description="How many suggestions at most, best first")]


def _text(*parts: str | None) -> str:
    return "\n".join(p for p in parts if p and p.strip())[:MAX_SUGGESTION_TEXT]


async def _suggestions(runtime: Runtime, user: User, text: str, ci: str | None, category: str | None,
                       limit: int) -> list[Suggestion]:
    if not text.strip():
        return []
    ask = SuggestionAsk(text=text, ci=ci, category=category, limit=limit)
    upstream = await call(runtime, "knowledge", "POST", "/suggestions", actor=user,
                          params={"reader": reader_of(user)}, json=ask.model_dump(mode="json"))
    return TypeAdapter(list[Suggestion]).validate_json(upstream.content)


async def _incident(runtime: Runtime, user: User, incident_id: str) -> dict[str, Any]:
    return (await readable_incident(runtime, user, incident_id)).json()


async def _request(runtime: Runtime, user: User, request_id: str) -> dict[str, Any]:
    # Agents and up only here: every request is theirs to read (itsm_gateway.api.requests narrows requesters).
    return (await call(runtime, "requests", "GET", f"/requests/{request_id}", actor=user)).json()


async def _attach(runtime: Runtime, user: User, record_type: str, record_id: str,
                  article_id: str) -> ArticleAttachment:
    """The knowledge service records the use (an article the agent may not read is its 404; an unpublished one its
    409); attaching it to the same record again changes nothing."""
    upstream = await call(runtime, "knowledge", "POST", f"/articles/{article_id}/uses", actor=user,
                          params={"reader": reader_of(user)},
                          json={"record_type": record_type, "record_id": record_id})
    article = ArticlePublic.model_validate_json(upstream.content)
    return ArticleAttachment(record_type=record_type, record_id=record_id, article_id=article.id,
                             number=article.number, title=article.title, attached=article.attached)


@router.get("/incidents/{incident_id}/suggestions", response_model=list[Suggestion],
            summary="What most likely helps with an incident: articles and known errors by its text, CI and "
                    "category and by what helped before; best first")
async def list_incident_suggestions(incident_id: Ident, runtime: RuntimeDep, user: AgentUser,
                                    limit: SuggestionLimit = 5) -> list[Suggestion]:
    incident = await _incident(runtime, user, incident_id)
    return await _suggestions(runtime, user, _text(incident["short_description"], incident.get("description")),
                              incident.get("affected_ci"), incident.get("category"), limit)


@router.get("/requests/{request_id}/suggestions", response_model=list[Suggestion],
            summary="What most likely helps with a request: articles and known errors by what was ordered; best "
                    "first")
async def list_request_suggestions(request_id: Ident, runtime: RuntimeDep, user: AgentUser,
                                   limit: SuggestionLimit = 5) -> list[Suggestion]:
    request = await _request(runtime, user, request_id)
    items = request.get("items") or []
    text = _text(request.get("short_description"), *(item.get("name") for item in items))
    category = next((item["category"] for item in items if item.get("category")), None)
    return await _suggestions(runtime, user, text, None, category, limit)


@router.post("/incidents/{incident_id}/articles", response_model=ArticleAttachment, status_code=201,
             summary="Attach a published article to an incident: it helped resolve it (counted once per incident, "
                     "noted on its timeline)")
async def attach_article_to_incident(incident_id: Ident, body: ArticleAttach, runtime: RuntimeDep,
                                     user: AgentUser) -> ArticleAttachment:
    await _incident(runtime, user, incident_id)  # an unknown incident: its 404, and nothing recorded
    return await _attach(runtime, user, "incident", incident_id, body.article_id)


@router.post("/requests/{request_id}/articles", response_model=ArticleAttachment, status_code=201,
             summary="Attach a published article to a request: it helped fulfil it (counted once per request)")
async def attach_article_to_request(request_id: Ident, body: ArticleAttach, runtime: RuntimeDep,
                                    user: AgentUser) -> ArticleAttachment:
    await _request(runtime, user, request_id)  # an unknown request: its 404, and nothing recorded
    return await _attach(runtime, user, "request", request_id, body.article_id)
