"""Use cases of articles: write one and its versions, walk a version through review to published (and retired),
read what the reader may read (counting views), feedback, and attaching one to the record it helped resolve.

Every call names its reader (requester | agent | admin, set by the gateway) and their groups: an article they may not
read is a 404 exactly like one that does not exist, and a requester reads published articles only.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Mapping
from datetime import date
from typing import Any, TypeVar

from itsm_contracts.api.knowledge import Reader
from itsm_kit.clock import utcnow
from itsm_kit.domain import Conflict
from itsm_kit.errors import check_version, not_found
from itsm_kit.unit_of_work import UnitOfWork
from itsm_knowledge.domain.articles import (
    Article, ArticleVersion, Text, VersionState, check_body, normalised_tags,
)
from itsm_knowledge.domain.audience import may_read
from itsm_knowledge.domain.markdown import render
from itsm_knowledge.settings import KnowledgeSettings
from itsm_knowledge.store.articles import ArticleRepository

T = TypeVar("T")


def text_of(title: str, body: str, max_bytes: int) -> Text:
    """What a version says, its Markdown bounded and rendered safe once, at save."""
    check_body(body, max_bytes)
    return Text(title.strip(), body, render(body))


def _readable(article: Article | None, ident: str, reader: Reader, groups: Collection[str]) -> Article:
    """The article, if this reader may read it; else the 404 of one that does not exist (no leak that it does)."""
    if article is None or not may_read(article.audience, article.audience_group, reader, groups) or (
            reader == "requester" and article.published_version is None):
        raise not_found("article", ident)
    return article


async def create_article(uow: UnitOfWork, settings: KnowledgeSettings, *, actor: str, title: str, body: str,
                         audience: str, audience_group: str | None = None, category: str | None = None,
                         tags: Collection[str] = (), review_by: date | None = None) -> Article:
    """A new article, its first version a draft."""
    text = text_of(title, body, settings.max_article_bytes)
    tags = normalised_tags(list(tags), settings.max_tags)
    async with uow:
        repo = ArticleRepository(uow.session)
        article = Article.draft(id=str(uuid.uuid4()), number=await repo.next_number(), text=text, audience=audience,
                                audience_group=audience_group, category=category, tags=tags, review_by=review_by,
                                actor=actor, at=utcnow())
        await repo.add(article)
        uow.add(article)
        await uow.commit()
    return article


async def get_article(uow: UnitOfWork, article_id: str, *, reader: Reader, groups: Collection[str],
                      viewer: str) -> Article:
    """The article as the reader sees it; reading a published one counts a view (once a day per reader)."""
    async with uow:
        repo = ArticleRepository(uow.session)
        article = _readable(await repo.get(article_id), article_id, reader, groups)
        if article.published_version is not None and await repo.viewed(article.id, viewer, utcnow().date()):
            article.views += 1
            await uow.commit()
    return article


async def list_articles(uow: UnitOfWork, *, reader: Reader, groups: Collection[str], limit: int,
                        cursor: str | None = None, **where: Any) -> tuple[list[Article], str | None]:
    """Newest updated first, those the reader may read, filtered by `where` (ArticleRepository.page's filters)."""
    async with uow:
        return await ArticleRepository(uow.session).page(reader=reader, groups=groups, today=utcnow().date(),
                                                         limit=limit, cursor=cursor, **where)


async def change_article(uow: UnitOfWork, article_id: str, command: Callable[[Article], T], *, reader: Reader,
                         groups: Collection[str], if_match: int | None = None) -> tuple[Article, T]:
    """A command on an article the reader may read: locked, If-Match checked (412 when stale), saved with its events
    and timeline lines; nothing written when it changed nothing."""
    async with uow:
        repo = ArticleRepository(uow.session)
        article = _readable(await repo.get(article_id, for_update=True), article_id, reader, groups)
        check_version("article", article_id, article.version, if_match)
        loaded = article.version
        result = command(article)
        if article.version != loaded:
            await repo.save(article, loaded)
            uow.add(article)
            await uow.commit()
    return article, result


async def update_article(uow: UnitOfWork, settings: KnowledgeSettings, article_id: str, changes: Mapping[str, Any],
                         *, actor: str, reader: Reader, groups: Collection[str], if_match: int | None) -> Article:
    at = utcnow()
    article, _ = await change_article(uow, article_id, lambda a: a.update(
        changes, max_tags=settings.max_tags, actor=actor, at=at), reader=reader, groups=groups, if_match=if_match)
    return article


def _text_change(version: ArticleVersion, title: str | None, body: str | None, max_bytes: int) -> Text | None:
    if title is None and body is None:
        return None
    return text_of(version.title if title is None else title, version.body if body is None else body, max_bytes)


async def draft_version(uow: UnitOfWork, settings: KnowledgeSettings, article_id: str, *, actor: str,
                        title: str | None, body: str | None, change_note: str | None, reader: Reader,
                        groups: Collection[str], if_match: int | None = None) -> tuple[Article, ArticleVersion]:
    """The next version, a draft (what is not sent is copied from the published version); a 409 while one is
    open."""
    at = utcnow()

    def command(article: Article) -> ArticleVersion:
        return article.draft_next(_text_change(article.shown, title, body, settings.max_article_bytes), change_note,
                                  actor=actor, at=at)

    return await change_article(uow, article_id, command, reader=reader, groups=groups, if_match=if_match)


async def edit_version(uow: UnitOfWork, settings: KnowledgeSettings, article_id: str, number: int, *, actor: str,
                       title: str | None, body: str | None, change_note: str | None, reader: Reader,
                       groups: Collection[str], if_match: int | None = None) -> tuple[Article, ArticleVersion]:
    """A draft rewritten; a 409 for a version in any other state."""
    at = utcnow()

    def command(article: Article) -> ArticleVersion:
        version = _version(article, number)
        return article.edit_draft(number, _text_change(version, title, body, settings.max_article_bytes),
                                  change_note, actor=actor, at=at)

    return await change_article(uow, article_id, command, reader=reader, groups=groups, if_match=if_match)


def _version(article: Article, number: int) -> ArticleVersion:
    try:
        return article.version_of(number)
    except KeyError:
        raise not_found(f"version {number} of article", article.id) from None


def _visible_versions(article: Article, reader: Reader) -> list[ArticleVersion]:
    """A requester sees the published version only; the desk sees every version."""
    if reader == "requester":
        return [v for v in article.versions if v.state == VersionState.PUBLISHED]
    return list(article.versions)


async def list_versions(uow: UnitOfWork, article_id: str, *, reader: Reader,
                        groups: Collection[str]) -> list[ArticleVersion]:
    async with uow:
        article = _readable(await ArticleRepository(uow.session).get(article_id), article_id, reader, groups)
    return _visible_versions(article, reader)


async def get_version(uow: UnitOfWork, article_id: str, number: int, *, reader: Reader,
                      groups: Collection[str]) -> ArticleVersion:
    async with uow:
        article = _readable(await ArticleRepository(uow.session).get(article_id), article_id, reader, groups)
    for version in _visible_versions(article, reader):
        if version.number == number:
            return version
    raise not_found(f"version {number} of article", article_id)


async def walk(uow: UnitOfWork, settings: KnowledgeSettings, article_id: str, step: str, *, actor: str,
               reader: Reader, groups: Collection[str], if_match: int | None = None,
               reason: str = "") -> Article:
    """A step of the open (or published) version: submit, return, publish, retire; or the article reviewed."""
    at = utcnow()
    steps: dict[str, Callable[[Article], Any]] = {
        "submit": lambda a: a.submit(actor=actor, at=at),
        "return": lambda a: a.return_to_writer(reason, actor=actor, at=at),
        "publish": lambda a: a.publish(actor=actor, at=at, review_after_days=settings.review_after_days),
        "retire": lambda a: a.retire(actor=actor, at=at),
        "reviewed": lambda a: a.reviewed(actor=actor, at=at, review_after_days=settings.review_after_days),
    }
    article, _ = await change_article(uow, article_id, steps[step], reader=reader, groups=groups, if_match=if_match)
    return article


async def article_activity(uow: UnitOfWork, article_id: str, *, reader: Reader, groups: Collection[str], limit: int,
                           cursor: str | None) -> tuple[list[dict], str | None]:
    """The article's timeline, newest first."""
    async with uow:
        repo = ArticleRepository(uow.session)
        _readable(await repo.get(article_id), article_id, reader, groups)
        return await repo.activity(article_id, limit=limit, cursor=cursor)


async def give_feedback(uow: UnitOfWork, article_id: str, *, helpful: bool, comment: str, actor: str,
                        reader: Reader, groups: Collection[str]) -> Article:
    """The reader's vote on a published article they may read (a later vote replaces theirs); the counts kept
    right. Votes are not edits: the article's version (its ETag) stays."""
    async with uow:
        repo = ArticleRepository(uow.session)
        article = _readable(await repo.get(article_id, for_update=True), article_id, reader, groups)
        if article.published_version is None:
            raise Conflict(f"article {article.number} is not published: only a published article takes feedback")
        await repo.give_feedback(article, actor, helpful, comment, utcnow())
        await uow.commit()
    return article


async def attach_article(uow: UnitOfWork, article_id: str, *, record_type: str, record_id: str, actor: str,
                         reader: Reader, groups: Collection[str]) -> Article:
    """It helped resolve this incident or request: counted once per record (attaching again changes nothing and
    announces nothing)."""
    at = utcnow()
    async with uow:
        repo = ArticleRepository(uow.session)
        article = _readable(await repo.get(article_id, for_update=True), article_id, reader, groups)
        loaded = article.version
        if not await repo.first_use(article.id, record_type, record_id, actor, at):
            return article
        article.attach(record_type, record_id, actor=actor, at=at)  # a 409 unless published: nothing kept
        await repo.save(article, loaded)
        uow.add(article)
        await uow.commit()
    return article
