"""A request's timeline: what changed, who did it, comments and work notes (itsm_kit.timeline)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from itsm_kit.domain import Activity
from itsm_kit.timeline import Timeline
from itsm_requests.store.tables import request_activity

REQUEST_TIMELINE = Timeline(request_activity, "request")


async def write_timeline(session: AsyncSession, by_request: Sequence[tuple[str, list[Activity]]]) -> None:
    """The unit of work's timeline writer: each request's new timeline lines."""
    await REQUEST_TIMELINE.add_many(session, by_request)
