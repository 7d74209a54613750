"""Use cases: request a change (stored with its events), and read change requests."""

from __future__ import annotations

import uuid
from datetime import datetime

from itsm_kit.clock import utcnow
from itsm_kit.errors import found
from itsm_kit.unit_of_work import UnitOfWork
from itsm_changes.domain import ChangeRequest
from itsm_changes.store import ChangeRepository


async def request_change(uow: UnitOfWork, *, short_description: str, description: str, change_type: str,
                         planned_start: datetime | None, planned_end: datetime | None) -> ChangeRequest:
    async with uow:
        repo = ChangeRepository(uow.session)
        change = ChangeRequest.request(
            id=str(uuid.uuid4()), number=await repo.next_number(), short_description=short_description,
            description=description, change_type=change_type, planned_start=planned_start,
            planned_end=planned_end, at=utcnow(),
        )
        await repo.add(change)
        uow.add(change)
        await uow.commit()
    return change


async def get_change(uow: UnitOfWork, change_id: str) -> ChangeRequest:
    async with uow:
        return found(await ChangeRepository(uow.session).get(change_id), "change request", change_id)


async def list_changes(uow: UnitOfWork, *, limit: int, cursor: str | None) -> tuple[list[ChangeRequest], str | None]:
    """Newest first; the page and the next page's cursor."""
    async with uow:
        return await ChangeRepository(uow.session).page(limit=limit, cursor=cursor)
