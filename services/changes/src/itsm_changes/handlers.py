"""Use cases: build the change request, store it with its events."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from itsm_kit.outbox import Outbox
from itsm_changes.domain import ChangeRequest
from itsm_changes.store import ChangeRepository


async def request_change(session: AsyncSession, outbox: Outbox, *, short_description: str, description: str,
                         change_type: str, planned_start: datetime | None, planned_end: datetime | None
                         ) -> ChangeRequest:
    repo = ChangeRepository(session)
    change = ChangeRequest.request(
        id=str(uuid.uuid4()), number=await repo.next_number(), short_description=short_description,
        description=description, change_type=change_type, planned_start=planned_start, planned_end=planned_end,
        at=datetime.now(UTC),
    )
    await repo.add(change)
    await outbox.add_raised(session, change.id, change.events)
    return change
