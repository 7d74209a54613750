"""The problems service's known errors as published (itsm.problem.known_error_published / _retired): a copy, kept
at its newest revision, naming the article drafted from it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from itsm_kit.db import stored
from itsm_knowledge.store.tables import known_errors


async def known_error(session: AsyncSession, known_error_id: str, *, for_update: bool = False) -> dict[str, Any] | None:
    query = stored(known_errors).where(known_errors.c.id == known_error_id)
    row = (await session.execute(query.with_for_update() if for_update else query)).first()
    return dict(row._mapping) if row else None


async def keep_revision(session: AsyncSession, copy: dict[str, Any]) -> bool:
    """The known error kept as this revision unless a newer (or the same) one already is: whether it was. A newer
    revision is a published one again (not retired); the article it names stays."""
    upsert = pg_insert(known_errors).values(**copy, retired_at=None)
    kept = await session.scalar(upsert.on_conflict_do_update(
        index_elements=["id"],
        set_={name: upsert.excluded[name] for name in (*copy, "retired_at") if name != "id"},
        where=known_errors.c.revision < upsert.excluded.revision).returning(known_errors.c.id))
    return kept is not None


async def name_article(session: AsyncSession, known_error_id: str, article_id: str) -> None:
    await session.execute(update(known_errors).where(known_errors.c.id == known_error_id)
                          .values(article_id=article_id))


async def retire(session: AsyncSession, known_error_id: str, at: datetime) -> bool:
    """No longer suggested (its article stays: someone decides about it); False for one never kept."""
    retired = await session.scalar(
        update(known_errors).where(known_errors.c.id == known_error_id, known_errors.c.retired_at.is_(None))
        .values(retired_at=at).returning(known_errors.c.id))
    return retired is not None


async def article_of(session: AsyncSession, known_error_id: str) -> str | None:
    return await session.scalar(select(known_errors.c.article_id).where(known_errors.c.id == known_error_id))
