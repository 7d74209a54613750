"""Known errors from the problems service: each kept (at its newest revision) and drafted as an article for the
desk, which links back to it; a later revision rewrites the article's draft (or drafts its next version)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence

from itsm_contracts import CloudEvent
from itsm_contracts.events.problems import ProblemKnownErrorPublished, ProblemKnownErrorRetired
from itsm_kit.clock import utcnow
from itsm_kit.domain import SYSTEM
from itsm_kit.unit_of_work import UnitOfWork
from itsm_knowledge.domain.articles import Article, KnownErrorLink, Text, known_error_text
from itsm_knowledge.domain.markdown import render
from itsm_knowledge.store import known_errors as copies
from itsm_knowledge.store.articles import ArticleRepository

log = logging.getLogger(__name__)
# A workaround is the desk's to give until someone decides requesters may read it.
KNOWN_ERROR_AUDIENCE = "agents"


async def known_errors_published(uow: UnitOfWork, run: Sequence[tuple[CloudEvent, ProblemKnownErrorPublished]]
                                 ) -> None:
    """Each newer revision kept; the first drafts an article (written by the system), a later one redrafts it
    (Article.redraft_from_known_error). An older or repeated revision changes nothing."""
    async with uow:
        repo = ArticleRepository(uow.session)
        for cause, known in run:
            kept = await copies.keep_revision(uow.session, {
                "id": known.known_error_id, "number": known.number, "problem_id": known.problem_id,
                "problem_number": known.problem_number, "title": known.title[:200], "symptoms": known.symptoms,
                "workaround": known.workaround, "affected_cis": list(known.affected_cis), "revision": known.revision,
                "published_at": known.published_at})
            if not kept:
                log.info("an older revision of a known error; skipped",
                         extra={"known_error_id": known.known_error_id, "revision": known.revision})
                continue
            title, body = known_error_text(title=known.title, symptoms=known.symptoms, workaround=known.workaround,
                                           affected_cis=known.affected_cis, number=known.number,
                                           problem_number=known.problem_number)
            text, at = Text(title, body, render(body)), utcnow()
            article_id = await copies.article_of(uow.session, known.known_error_id)
            if article_id is None or (article := await repo.get(article_id, for_update=True)) is None:
                article = Article.draft(
                    id=str(uuid.uuid4()), number=await repo.next_number(), text=text, audience=KNOWN_ERROR_AUDIENCE,
                    audience_group=None, category=None, tags=[], review_by=None, actor=SYSTEM, at=at,
                    known_error=KnownErrorLink(known.known_error_id, known.number, known.problem_id,
                                               known.problem_number))
                await repo.add(article)
                await copies.name_article(uow.session, known.known_error_id, article.id)
            else:
                loaded = article.version
                done = article.redraft_from_known_error(text, known.revision, at=at)
                log.info("known error revised", extra={"known_error_id": known.known_error_id,
                                                       "article_id": article.id, "done": done or "nothing"})
                if article.version != loaded:
                    await repo.save(article, loaded)
            uow.add(article)
            uow.caused_by(cause)
        await uow.commit()


async def known_errors_retired(uow: UnitOfWork, run: Sequence[tuple[CloudEvent, ProblemKnownErrorRetired]]) -> None:
    """No longer suggested. Its article stays as it is: whether it still helps is for someone to decide (retire
    it through the article's own lifecycle)."""
    async with uow:
        for _, retired in run:
            if not await copies.retire(uow.session, retired.known_error_id, retired.retired_at):
                log.info("a known error never kept (or already retired) was retired; skipped",
                         extra={"known_error_id": retired.known_error_id})
        await uow.commit()
