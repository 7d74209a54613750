"""An article's timeline: drafted, submitted, returned, published, retired, attached (itsm_kit.timeline)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from itsm_kit.domain import Activity
from itsm_kit.timeline import Timeline
from itsm_knowledge.store.tables import article_activity

ARTICLE_TIMELINE = Timeline(article_activity, "article")


async def write_timeline(session: AsyncSession, by_article: Sequence[tuple[str, list[Activity]]]) -> None:
    """The unit of work's timeline writer: each article's new timeline lines."""
    await ARTICLE_TIMELINE.add_many(session, by_article)
