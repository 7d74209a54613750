"""Articles and their versions (issue 18).

Every call names its `reader` (requester | agent | admin): the gateway sets it from the caller's role, never from
what the client sent; who acts and their groups are the gateway's signature's. /articles/{id}/uses is the gateway's
own (its suggestions routes record an article attached to an incident or request); it is not re-exposed.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from itsm_contracts.api.knowledge import (
    ArticleActivityEntry, ArticleActivityPage, ArticleCreate, ArticleFeedback, ArticlePage, ArticlePublic,
    ArticleQuery, ArticleReturn, ArticleUpdate, ArticleUse, ArticleVersionList, ArticleVersionPublic, Reader,
    VersionDraft, VersionEdit,
)
from itsm_kit.api import Actor, ActorGroups, Ident, IfMatch, PageSize, tag
from itsm_kit.clock import utcnow
from itsm_kit.runtime import RuntimeDep, UnitOfWorkDep
from itsm_kit.unit_of_work import retrying
from itsm_knowledge.handlers import articles as handlers

router = APIRouter(tags=["articles"])
ReaderParam = Annotated[Reader, Query(description="who reads, by role (the gateway's to set)")]
# Who attaches an article works records: an agent unless the gateway says otherwise.
Attacher = Annotated[Reader, Query(description="who attaches, by role (the gateway's to set)")]
VersionNumber = Annotated[int, Path(ge=1, le=1_000_000)]


def public(article, response: Response | None = None) -> ArticlePublic:
    """The article as readers see it (the shown version's HTML and who wrote and approved it), stale when past its
    review date; its version is the ETag."""
    if response is not None:
        tag(response, article.version)
    fields = {name: getattr(article, name) for name in ArticlePublic.model_fields if name != "stale"}
    return ArticlePublic(**fields, stale=article.stale_on(utcnow().date()))


def _version(version) -> ArticleVersionPublic:
    return ArticleVersionPublic.model_validate(version, from_attributes=True)


@router.post("/articles", response_model=ArticlePublic, status_code=201, summary="Write an article: a draft v1")
async def create_article(body: ArticleCreate, uow: UnitOfWorkDep, runtime: RuntimeDep, actor: Actor,
                         response: Response) -> ArticlePublic:
    article = await retrying(lambda: handlers.create_article(uow, runtime.settings, actor=actor, **body.model_dump()))
    response.headers["Location"] = f"/articles/{article.id}"
    return public(article, response)


@router.get("/articles", response_model=ArticlePage,
            summary="Articles the reader may read, newest updated first (state, category, tag, stale)")
async def list_articles(uow: UnitOfWorkDep, groups: ActorGroups, query: Annotated[ArticleQuery, Query()],
                        reader: ReaderParam = "requester") -> ArticlePage:
    found, next_cursor = await handlers.list_articles(uow, reader=reader, groups=groups, **query.model_dump())
    return ArticlePage(items=[public(a) for a in found], next_cursor=next_cursor)


@router.get("/articles/{article_id}", response_model=ArticlePublic,
            summary="An article as the reader sees it (a view counted once a day per reader; version = ETag)")
async def get_article(article_id: Ident, uow: UnitOfWorkDep, actor: Actor, groups: ActorGroups, response: Response,
                      reader: ReaderParam = "requester") -> ArticlePublic:
    article = await retrying(lambda: handlers.get_article(uow, article_id, reader=reader, groups=groups,
                                                          viewer=actor))
    return public(article, response)


@router.patch("/articles/{article_id}", response_model=ArticlePublic,
              summary="Change who reads an article and how it is filed (not versioned)")
async def update_article(article_id: Ident, body: ArticleUpdate, uow: UnitOfWorkDep, runtime: RuntimeDep,
                         actor: Actor, groups: ActorGroups, if_match: IfMatch, response: Response,
                         reader: ReaderParam = "requester") -> ArticlePublic:
    article = await retrying(lambda: handlers.update_article(
        uow, runtime.settings, article_id, body.model_dump(exclude_unset=True), actor=actor, reader=reader,
        groups=groups, if_match=if_match))
    return public(article, response)


# -- versions -------------------------------------------------------------------------------------------------------

@router.post("/articles/{article_id}/versions", response_model=ArticleVersionPublic, status_code=201,
             summary="Draft the next version (a copy of the published one unless the text is sent)")
async def create_article_version(article_id: Ident, uow: UnitOfWorkDep, runtime: RuntimeDep, actor: Actor,
                                groups: ActorGroups, if_match: IfMatch, response: Response,
                                body: VersionDraft | None = None,
                                reader: ReaderParam = "requester") -> ArticleVersionPublic:
    body = body or VersionDraft()
    article, version = await retrying(lambda: handlers.draft_version(
        uow, runtime.settings, article_id, actor=actor, title=body.title, body=body.body,
        change_note=body.change_note, reader=reader, groups=groups, if_match=if_match))
    tag(response, article.version)
    response.headers["Location"] = f"/articles/{article_id}/versions/{version.number}"
    return _version(version)


@router.patch("/articles/{article_id}/versions/{number}", response_model=ArticleVersionPublic,
              summary="Rewrite a draft version")
async def update_article_version(article_id: Ident, number: VersionNumber, body: VersionEdit, uow: UnitOfWorkDep,
                               runtime: RuntimeDep, actor: Actor, groups: ActorGroups, if_match: IfMatch,
                               response: Response, reader: ReaderParam = "requester") -> ArticleVersionPublic:
    article, version = await retrying(lambda: handlers.edit_version(
        uow, runtime.settings, article_id, number, actor=actor, title=body.title, body=body.body,
        change_note=body.change_note, reader=reader, groups=groups, if_match=if_match))
    tag(response, article.version)
    return _version(version)


@router.get("/articles/{article_id}/versions", response_model=ArticleVersionList,
            summary="An article's versions, oldest first (a requester: the published one)")
async def list_article_versions(article_id: Ident, uow: UnitOfWorkDep, groups: ActorGroups,
                                reader: ReaderParam = "requester") -> ArticleVersionList:
    versions = await handlers.list_versions(uow, article_id, reader=reader, groups=groups)
    return ArticleVersionList(items=[_version(v) for v in versions])


@router.get("/articles/{article_id}/versions/{number}", response_model=ArticleVersionPublic,
            summary="One version of an article, its Markdown and sanitised HTML")
async def get_article_version(article_id: Ident, number: VersionNumber, uow: UnitOfWorkDep, groups: ActorGroups,
                              reader: ReaderParam = "requester") -> ArticleVersionPublic:
    return _version(await handlers.get_version(uow, article_id, number, reader=reader, groups=groups))


# -- the walk -------------------------------------------------------------------------------------------------------

async def _walk(step: str, article_id: str, uow, runtime, actor: str, groups: frozenset[str], if_match: int | None,
                reader: Reader, response: Response, reason: str = "") -> ArticlePublic:
    article = await retrying(lambda: handlers.walk(uow, runtime.settings, article_id, step, actor=actor,
                                                   reader=reader, groups=groups, if_match=if_match, reason=reason))
    return public(article, response)


@router.post("/articles/{article_id}/submit", response_model=ArticlePublic,
             summary="Send the draft version for review")
async def submit_article(article_id: Ident, uow: UnitOfWorkDep, runtime: RuntimeDep, actor: Actor,
                         groups: ActorGroups, if_match: IfMatch, response: Response,
                         reader: ReaderParam = "requester") -> ArticlePublic:
    return await _walk("submit", article_id, uow, runtime, actor, groups, if_match, reader, response)


@router.post("/articles/{article_id}/return", response_model=ArticlePublic,
             summary="Send the version under review back to its writer, with why")
async def reject_article_version(article_id: Ident, body: ArticleReturn, uow: UnitOfWorkDep, runtime: RuntimeDep,
                         actor: Actor, groups: ActorGroups, if_match: IfMatch, response: Response,
                         reader: ReaderParam = "requester") -> ArticlePublic:
    return await _walk("return", article_id, uow, runtime, actor, groups, if_match, reader, response, body.reason)


@router.post("/articles/{article_id}/publish", response_model=ArticlePublic,
             summary="Publish the version under review (not its own writer: four-eyes); the one before is retired")
async def publish_article(article_id: Ident, uow: UnitOfWorkDep, runtime: RuntimeDep, actor: Actor,
                          groups: ActorGroups, if_match: IfMatch, response: Response,
                          reader: ReaderParam = "requester") -> ArticlePublic:
    return await _walk("publish", article_id, uow, runtime, actor, groups, if_match, reader, response)


@router.post("/articles/{article_id}/retire", response_model=ArticlePublic,
             summary="Withdraw the published version (with none published: discard the draft)")
async def retire_article(article_id: Ident, uow: UnitOfWorkDep, runtime: RuntimeDep, actor: Actor,
                         groups: ActorGroups, if_match: IfMatch, response: Response,
                         reader: ReaderParam = "requester") -> ArticlePublic:
    return await _walk("retire", article_id, uow, runtime, actor, groups, if_match, reader, response)


@router.post("/articles/{article_id}/reviewed", response_model=ArticlePublic,
             summary="Mark an article reviewed: due for review again ITSM_KNOWLEDGE_REVIEW_AFTER_DAYS from today")
async def mark_article_reviewed(article_id: Ident, uow: UnitOfWorkDep, runtime: RuntimeDep, actor: Actor,
                                groups: ActorGroups, if_match: IfMatch, response: Response,
                                reader: ReaderParam = "requester") -> ArticlePublic:
    return await _walk("reviewed", article_id, uow, runtime, actor, groups, if_match, reader, response)


@router.get("/articles/{article_id}/activity", response_model=ArticleActivityPage,
            summary="The article's timeline, newest first")
async def list_article_activity(article_id: Ident, uow: UnitOfWorkDep, groups: ActorGroups,
                                reader: ReaderParam = "requester", cursor: str | None = None,
                                limit: PageSize = 50) -> ArticleActivityPage:
    items, next_cursor = await handlers.article_activity(uow, article_id, reader=reader, groups=groups, limit=limit,
                                                         cursor=cursor)
    return ArticleActivityPage(items=[ArticleActivityEntry(**e) for e in items], next_cursor=next_cursor)


# -- what readers add -----------------------------------------------------------------------------------------------

@router.post("/articles/{article_id}/feedback", response_model=ArticlePublic,
             summary="Helpful or not (one vote per person: a later one replaces theirs)")
async def record_article_feedback(article_id: Ident, body: ArticleFeedback, uow: UnitOfWorkDep, actor: Actor,
                                groups: ActorGroups, response: Response,
                                reader: ReaderParam = "requester") -> ArticlePublic:
    article = await retrying(lambda: handlers.give_feedback(uow, article_id, helpful=body.helpful,
                                                            comment=body.comment, actor=actor, reader=reader,
                                                            groups=groups))
    return public(article, response)


@router.post("/articles/{article_id}/uses", response_model=ArticlePublic,
             summary="Record that a published article was attached to an incident or request (once per record)")
async def attach_article(article_id: Ident, body: ArticleUse, uow: UnitOfWorkDep, actor: Actor, groups: ActorGroups,
                         response: Response, reader: Attacher = "agent") -> ArticlePublic:
    article = await retrying(lambda: handlers.attach_article(uow, article_id, record_type=body.record_type,
                                                             record_id=body.record_id, actor=actor, reader=reader,
                                                             groups=groups))
    return public(article, response)
