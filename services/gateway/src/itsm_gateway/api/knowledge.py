"""Knowledge through the gateway (issue 18): articles, feedback and suggestions, passed to the knowledge service
with who reads (`reader`, from the caller's role: the service filters by audience with it), roles checked here.

Requesters read published articles for requesters and for their groups and give feedback; agents write, review and
publish (four-eyes: the service refuses a writer publishing their own version) and read every state of the articles
for requesters, agents and their groups; admins read every article. Any `reader` a client sends is dropped: the
gateway sets it from the role. An article the caller may not read is a 404, as for one that does not exist.
/articles/{id}/uses is not here: the suggestions routes attach articles to incidents and requests.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel

from itsm_contracts.api.knowledge import (
    ArticleActivityPage, ArticleCreate, ArticleFeedback, ArticlePage, ArticlePublic, ArticleQuery, ArticleReturn,
    ArticleUpdate, ArticleVersionList, ArticleVersionPublic, Reader, VersionDraft, VersionEdit,
)
from itsm_kit.api import Ident, IfMatchHeader, PageSize
from itsm_kit.runtime import Runtime, RuntimeDep
from itsm_gateway.auth import AgentUser, RequesterUser, RoleRoute, User, works
from itsm_gateway.upstream import Passage, call

router = APIRouter(tags=["knowledge"], route_class=RoleRoute)
knowledge_service = Passage("knowledge", "/api/v1")
READER = "reader"
VersionNumber = Annotated[int, Path(ge=1, le=1_000_000)]


def reader_of(user: User) -> Reader:
    """Who reads, by role: what the knowledge service filters articles by."""
    if "admin" in user.roles:
        return "admin"
    return "agent" if works(user) else "requester"


def _params(request: Request | None, user: User) -> list[tuple[str, str]]:
    """The query as sent, but `reader`, which is the role's."""
    sent = request.query_params.multi_items() if request is not None else []
    return [(name, value) for name, value in sent if name != READER] + [(READER, reader_of(user))]


async def _read(runtime: Runtime, request: Request, user: User, path: str, response: Response | None = None) -> Any:
    return await knowledge_service.read(runtime, request, path, response, actor=user, params=_params(request, user))


async def _send(runtime: Runtime, response: Response, user: User, method: str, path: str, body: BaseModel | None,
                if_match: str | None = None) -> Any:
    # exclude_unset: a PATCH must not turn the fields it left out into nulls.
    upstream = await call(runtime, "knowledge", method, path, actor=user, params=_params(None, user),
                          json=body.model_dump(mode="json", exclude_unset=True) if body is not None else None,
                          headers={"if-match": if_match} if if_match else {})
    return knowledge_service.relay(upstream, response)


@router.post("/articles", response_model=ArticlePublic, status_code=201, summary="Write an article: a draft v1",
             description="Markdown body (raw HTML is shown as text; the HTML is sanitised). audience_group is "
                         "required for audience group, and only for it.")
async def create_article(body: ArticleCreate, runtime: RuntimeDep, user: AgentUser, response: Response) -> dict:
    return await _send(runtime, response, user, "POST", "/articles", body)


@router.get("/articles", response_model=ArticlePage,
            summary="Articles I may read, newest updated first (state, category, tag, stale=true: the review queue)",
            description="A requester: published articles for requesters and their groups only.")
async def list_articles(request: Request, runtime: RuntimeDep, user: RequesterUser,
                        query: Annotated[ArticleQuery, Query()]) -> dict:
    return await _read(runtime, request, user, "/articles")


@router.get("/articles/{article_id}", response_model=ArticlePublic,
            summary="An article: its published version (a view counted once a day per reader; version = ETag)",
            description="404 for an article the caller may not read (a requester: any not published).")
async def get_article(article_id: Ident, request: Request, runtime: RuntimeDep, user: RequesterUser,
                      response: Response) -> dict:
    return await _read(runtime, request, user, f"/articles/{article_id}", response)


@router.patch("/articles/{article_id}", response_model=ArticlePublic,
              summary="Change who reads an article and how it is filed (not versioned)")
async def update_article(article_id: Ident, body: ArticleUpdate, runtime: RuntimeDep, user: AgentUser,
                         response: Response, if_match: IfMatchHeader = None) -> dict:
    return await _send(runtime, response, user, "PATCH", f"/articles/{article_id}", body, if_match)


@router.post("/articles/{article_id}/versions", response_model=ArticleVersionPublic, status_code=201,
             summary="Draft an article's next version (a copy of the published one unless the text is sent)",
             description="409 while a version is open (draft or under review): one at a time.")
async def create_article_version(article_id: Ident, runtime: RuntimeDep, user: AgentUser, response: Response,
                                body: VersionDraft | None = None, if_match: IfMatchHeader = None) -> dict:
    return await _send(runtime, response, user, "POST", f"/articles/{article_id}/versions", body or VersionDraft(),
                       if_match)


@router.patch("/articles/{article_id}/versions/{number}", response_model=ArticleVersionPublic,
              summary="Rewrite a draft version (409 for any other)")
async def update_article_version(article_id: Ident, number: VersionNumber, body: VersionEdit, runtime: RuntimeDep,
                               user: AgentUser, response: Response, if_match: IfMatchHeader = None) -> dict:
    return await _send(runtime, response, user, "PATCH", f"/articles/{article_id}/versions/{number}", body,
                       if_match)


@router.get("/articles/{article_id}/versions", response_model=ArticleVersionList,
            summary="An article's versions, oldest first")
async def list_article_versions(article_id: Ident, request: Request, runtime: RuntimeDep, user: AgentUser) -> dict:
    return await _read(runtime, request, user, f"/articles/{article_id}/versions")


@router.get("/articles/{article_id}/versions/{number}", response_model=ArticleVersionPublic,
            summary="One version of an article: its Markdown and sanitised HTML")
async def get_article_version(article_id: Ident, number: VersionNumber, request: Request, runtime: RuntimeDep,
                              user: AgentUser) -> dict:
    return await _read(runtime, request, user, f"/articles/{article_id}/versions/{number}")


@router.post("/articles/{article_id}/submit", response_model=ArticlePublic,
             summary="Send an article's draft version for review")
async def submit_article(article_id: Ident, runtime: RuntimeDep, user: AgentUser, response: Response,
                         if_match: IfMatchHeader = None) -> dict:
    return await _send(runtime, response, user, "POST", f"/articles/{article_id}/submit", None, if_match)


@router.post("/articles/{article_id}/return", response_model=ArticlePublic,
             summary="Send an article's version under review back to its writer, with why")
async def reject_article_version(article_id: Ident, body: ArticleReturn, runtime: RuntimeDep, user: AgentUser,
                         response: Response, if_match: IfMatchHeader = None) -> dict:
    return await _send(runtime, response, user, "POST", f"/articles/{article_id}/return", body, if_match)


@router.post("/articles/{article_id}/publish", response_model=ArticlePublic,
             summary="Publish an article's version under review; the version published before is retired",
             description="409 for the version's own writer (four-eyes), unless the system drafted it from a known "
                         "error.")
async def publish_article(article_id: Ident, runtime: RuntimeDep, user: AgentUser, response: Response,
                          if_match: IfMatchHeader = None) -> dict:
    return await _send(runtime, response, user, "POST", f"/articles/{article_id}/publish", None, if_match)


@router.post("/articles/{article_id}/retire", response_model=ArticlePublic,
             summary="Withdraw an article's published version (with none published: discard its draft)")
async def retire_article(article_id: Ident, runtime: RuntimeDep, user: AgentUser, response: Response,
                         if_match: IfMatchHeader = None) -> dict:
    return await _send(runtime, response, user, "POST", f"/articles/{article_id}/retire", None, if_match)


@router.post("/articles/{article_id}/reviewed", response_model=ArticlePublic,
             summary="Mark an article reviewed: due again ITSM_KNOWLEDGE_REVIEW_AFTER_DAYS from today")
async def mark_article_reviewed(article_id: Ident, runtime: RuntimeDep, user: AgentUser, response: Response,
                                if_match: IfMatchHeader = None) -> dict:
    return await _send(runtime, response, user, "POST", f"/articles/{article_id}/reviewed", None, if_match)


@router.get("/articles/{article_id}/activity", response_model=ArticleActivityPage,
            summary="An article's timeline, newest first")
async def list_article_activity(article_id: Ident, request: Request, runtime: RuntimeDep, user: AgentUser,
                                cursor: str | None = None, limit: PageSize = 50) -> dict:
    return await _read(runtime, request, user, f"/articles/{article_id}/activity")


@router.post("/articles/{article_id}/feedback", response_model=ArticlePublic,
             summary="Rate a published article helpful or not (one vote per person: a later one replaces it)")
async def record_article_feedback(article_id: Ident, body: ArticleFeedback, runtime: RuntimeDep, user: RequesterUser,
                                response: Response) -> dict:
    return await _send(runtime, response, user, "POST", f"/articles/{article_id}/feedback", body)
