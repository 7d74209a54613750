"""Use cases: request a change, edit it, move it, decide on it (each stored with its events); read changes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from itsm_kit.clock import utcnow
from itsm_kit.domain import SYSTEM
from itsm_kit.errors import found
from itsm_kit.records import apply
from itsm_kit.unit_of_work import UnitOfWork
from itsm_changes.domain import ChangeRequest, State
from itsm_changes.store import ChangeRepository


async def request_change(uow: UnitOfWork, *, short_description: str, description: str, change_type: str,
                         planned_start: datetime | None, planned_end: datetime | None, requested_by: str = SYSTEM,
                         assignee: str | None = None, assignment_group: str | None = None,
                         affected_cis: list[str] | None = None) -> ChangeRequest:
    async with uow:
        repo = ChangeRepository(uow.session)
        change = ChangeRequest.request(
            id=str(uuid.uuid4()), number=await repo.next_number(), short_description=short_description,
            description=description, change_type=change_type, planned_start=planned_start,
            planned_end=planned_end, at=utcnow(), requested_by=requested_by, assignee=assignee,
            assignment_group=assignment_group, affected_cis=affected_cis or [],
        )
        await repo.add(change)
        uow.add(change)
        await uow.commit()
    return change


async def update_change(uow: UnitOfWork, change_id: str, changes: dict[str, Any], *, actor: str = SYSTEM,
                        if_match: int | None = None) -> ChangeRequest:
    return await apply(uow, ChangeRepository, change_id, if_match,
                       lambda change: change.update(changes, utcnow(), actor=actor))


async def move_change(uow: UnitOfWork, change_id: str, *, state: State, reason: str | None = None,
                      actor: str = SYSTEM, if_match: int | None = None) -> ChangeRequest:
    return await apply(uow, ChangeRepository, change_id, if_match,
                       lambda change: change.move_to(state, utcnow(), actor=actor, reason=reason))


async def decide_change(uow: UnitOfWork, change_id: str, *, decision: str, comment: str | None = None,
                        actor: str = SYSTEM, if_match: int | None = None) -> ChangeRequest:
    return await apply(uow, ChangeRepository, change_id, if_match,
                       lambda change: change.decide(decision, comment, utcnow(), actor=actor))


async def get_change(uow: UnitOfWork, change_id: str) -> ChangeRequest:
    async with uow:
        return found(await ChangeRepository(uow.session).get(change_id), "change request", change_id)


async def list_changes(uow: UnitOfWork, *, limit: int, cursor: str | None,
                       **where: Any) -> tuple[list[ChangeRequest], str | None]:
    """Newest first, filtered by `where` (ChangeRepository.page's filters); the page and the next page's cursor."""
    async with uow:
        return await ChangeRepository(uow.session).page(limit=limit, cursor=cursor, **where)
