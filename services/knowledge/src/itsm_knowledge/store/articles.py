"""Articles with their versions (one aggregate, two tables), and what readers add to them: feedback, daily views,
the records an article was attached to."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, String, func, or_, select, tuple_, update
from sqlalchemy.dialects.postgresql import array
from sqlalchemy.dialects.postgresql import insert as pg_insert

from itsm_contracts.api.knowledge import Reader
from itsm_kit.db import stored
from itsm_kit.pagination import newest_first, page_of
from itsm_kit.records import AggregateRepository, Numbering, columns_of
from itsm_knowledge.domain.articles import Article, ArticleVersion, VersionState
from itsm_knowledge.store.audience import readable
from itsm_knowledge.store.tables import (
    article_feedback, article_number, article_uses, article_versions, article_views, articles,
)
from itsm_knowledge.store.timeline import ARTICLE_TIMELINE

VERSION_COLUMNS = [column.name for column in article_versions.c]


class ArticleRepository(AggregateRepository[Article]):
    table, aggregate, noun = articles, Article, "article"
    numbering = Numbering(article_number, "KB")
    choices = {"state": VersionState}

    async def find(self, *, for_update: bool = False, **values: Any) -> Article | None:
        """The article with every version (locking the article's row locks them: every write goes through it)."""
        article = await super().find(for_update=for_update, **values)
        if article is not None:
            await self._with_versions([article])
        return article

    async def add(self, *new: Article) -> None:
        await super().add(*new)
        await self._write_versions(new)

    async def save(self, aggregate: Article, loaded_version: int) -> None:
        await super().save(aggregate, loaded_version)
        await self._write_versions([aggregate])

    async def page(self, *, reader: Reader, groups: Collection[str], today: date, limit: int,
                   cursor: str | None = None, state: Sequence[str] = (), category: str | None = None,
                   tag: str | None = None, stale: bool | None = None) -> tuple[list[Article], str | None]:
        """Newest updated first, those the reader may read (a requester: published ones) that every filter given
        holds for; each with the version it shows."""
        c = articles.c
        query: Select = stored(articles).where(readable(reader, groups))
        if reader == "requester":
            query = query.where(c.state == VersionState.PUBLISHED.value)
        if state:
            query = query.where(c.state.in_(list(state)))
        if category is not None:
            query = query.where(c.category == category)
        if tag is not None:
            # @> (which a GIN index could serve), spelled out: the table's ARRAY is the generic type.
            query = query.where(c.tags.op("@>")(array([tag], type_=String(50))))
        if stale is True:
            query = query.where(c.review_by < today)
        elif stale is False:
            query = query.where(or_(c.review_by.is_(None), c.review_by >= today))
        query = newest_first(query, c.updated_at, c.id, limit=limit, cursor=cursor)
        found = [self.load(r) for r in (await self.session.execute(query)).all()]
        found, next_cursor = page_of(found, limit, lambda article: (article.updated_at, article.id))
        await self._with_versions(found, shown_only=True)
        return found, next_cursor

    async def activity(self, article_id: str, *, limit: int, cursor: str | None) -> tuple[list[dict], str | None]:
        return await ARTICLE_TIMELINE.page(self.session, article_id, limit=limit, cursor=cursor)

    # -- what readers add -------------------------------------------------------------------------------------------

    async def viewed(self, article_id: str, viewer: str, day: date) -> bool:
        """Counts the view once per reader and day (reloading adds nothing); whether it counted."""
        counted = await self.session.scalar(
            pg_insert(article_views).values(article_id=article_id, viewer=viewer, day=day)
            .on_conflict_do_nothing().returning(article_views.c.article_id))
        if counted is not None:
            await self.session.execute(update(articles).where(articles.c.id == article_id)
                                       .values(views=articles.c.views + 1))
        return counted is not None

    async def give_feedback(self, article: Article, person: str, helpful: bool, comment: str, at: datetime) -> None:
        """Their vote (replacing an earlier one of theirs), and the article's counts recounted. The caller holds the
        article's row locked, so votes at the same time are counted one after the other."""
        vote = pg_insert(article_feedback).values(article_id=article.id, person=person, helpful=helpful,
                                                  comment=comment or None, given_at=at)
        await self.session.execute(vote.on_conflict_do_update(
            index_elements=["article_id", "person"],
            set_={"helpful": vote.excluded.helpful, "comment": vote.excluded.comment,
                  "given_at": vote.excluded.given_at}))
        f = article_feedback.c
        counts = (await self.session.execute(
            select(func.count().filter(f.helpful), func.count().filter(~f.helpful))
            .where(f.article_id == article.id))).one()
        article.helpful, article.not_helpful = counts
        await self.session.execute(update(articles).where(articles.c.id == article.id)
                                   .values(helpful=article.helpful, not_helpful=article.not_helpful))

    async def first_use(self, article_id: str, record_type: str, record_id: str, actor: str, at: datetime) -> bool:
        """Records that the article was attached to this record; False when it already was."""
        inserted = await self.session.scalar(
            pg_insert(article_uses).values(article_id=article_id, record_type=record_type, record_id=record_id,
                                           attached_by=actor, attached_at=at)
            .on_conflict_do_nothing().returning(article_uses.c.article_id))
        return inserted is not None

    # -- versions ---------------------------------------------------------------------------------------------------

    async def _with_versions(self, found: Sequence[Article], *, shown_only: bool = False) -> None:
        if not found:
            return
        by_id = {article.id: article for article in found}
        for article in found:
            article.versions = []
        v = article_versions.c
        if shown_only:
            wanted = tuple_(v.article_id, v.number).in_(
                [(a.id, a.published_version or a.latest_version) for a in found])
        else:
            wanted = v.article_id.in_(list(by_id))
        rows = await self.session.execute(select(article_versions).where(wanted).order_by(v.article_id, v.number))
        for row in rows.all():
            values = columns_of(row, VERSION_COLUMNS)
            by_id[row.article_id].versions.append(ArticleVersion(**{**values, "state": VersionState(values["state"])}))

    async def _write_versions(self, written: Sequence[Article]) -> None:
        rows = [{name: getattr(version, name) for name in VERSION_COLUMNS}
                for article in written for version in article.versions]
        if not rows:
            return
        upsert = pg_insert(article_versions)
        await self.session.execute(upsert.on_conflict_do_update(
            index_elements=["article_id", "number"],
            set_={name: upsert.excluded[name] for name in VERSION_COLUMNS if name not in ("article_id", "number")}),
            rows)


# The article's own row: its stored columns, not its versions (kept in a table of their own) nor its search vector.
ArticleRepository.fields = [column.name for column in articles.c if column.computed is None]
