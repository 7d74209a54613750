"""Dispatch decisions in the caller's transaction (dispatch helper, issue 17)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from itsm_requests.domain.dispatch import Decision, Facts


async def decide(session: AsyncSession, facts: Facts, *, group: str | None = None) -> Decision:
    """The group (`group` when the record already has one, else the first matching rule's) and the person the
    group's method picks, in the caller's transaction (round robin moves on only if it commits).

    Stub until the dispatch helper lands: the given group, nobody."""
    return Decision(assignment_group=group)
