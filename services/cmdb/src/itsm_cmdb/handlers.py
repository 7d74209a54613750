"""Use cases: register the configuration item, store it with its events."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from itsm_kit.outbox import Outbox
from itsm_cmdb.domain import ConfigurationItem, DuplicateCi
from itsm_cmdb.store import CiRepository


async def register_ci(session: AsyncSession, outbox: Outbox, *, name: str, ci_class: str, criticality: int,
                      operational_status: str) -> ConfigurationItem:
    repo = CiRepository(session)
    ci = ConfigurationItem.register(id=str(uuid.uuid4()), name=name, ci_class=ci_class, criticality=criticality,
                                    operational_status=operational_status, at=datetime.now(UTC))
    if not await repo.add(ci):
        existing = await repo.find(ci.ci_class, ci.name)
        raise DuplicateCi(ci.ci_class, ci.name, existing.id if existing else None)
    await outbox.add_raised(session, ci.id, ci.events)
    return ci
