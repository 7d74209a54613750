"""Use cases: incident events in, timers started, retargeted, stopped."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from itsm_contracts.events.incidents import (
    IncidentOpened, IncidentPriorityChanged, IncidentResolved, IncidentStateChanged,
)
from itsm_kit.outbox import Outbox
from itsm_sla.domain import Timer, timers_to_stop
from itsm_sla.store import TimerRepository


async def _store(repo: TimerRepository, outbox: Outbox, timer: Timer, new: bool) -> None:
    await (repo.add(timer) if new else repo.save(timer))
    await outbox.add_raised(repo.session, timer.id, timer.events)


async def incident_opened(session: AsyncSession, outbox: Outbox, event: IncidentOpened) -> list[Timer]:
    repo = TimerRepository(session)
    if await repo.for_incident(event.incident_id):
        return []  # timers already attached (a replayed history)
    started = []
    for kind in ("response", "resolution"):
        timer = Timer.start(id=str(uuid.uuid4()), incident_id=event.incident_id, kind=kind,
                            priority=event.priority, at=event.opened_at)
        await _store(repo, outbox, timer, new=True)
        started.append(timer)
    return started


async def incident_state_changed(session: AsyncSession, outbox: Outbox, event: IncidentStateChanged) -> None:
    kinds, cancel = timers_to_stop(event.to_state)
    repo = TimerRepository(session)
    for timer in await repo.for_incident(event.incident_id, for_update=True):
        if timer.running and timer.kind in kinds:
            if cancel:
                timer.cancel(event.changed_at)
            else:
                timer.stop(event.changed_at)
            await _store(repo, outbox, timer, new=False)


async def incident_resolved(session: AsyncSession, outbox: Outbox, event: IncidentResolved) -> None:
    await incident_state_changed(session, outbox, IncidentStateChanged(
        incident_id=event.incident_id, from_state="in_progress", to_state="resolved", changed_at=event.resolved_at,
    ))


async def incident_priority_changed(session: AsyncSession, outbox: Outbox, event: IncidentPriorityChanged) -> None:
    repo = TimerRepository(session)
    for timer in await repo.for_incident(event.incident_id, for_update=True):
        if timer.running:
            timer.retarget(event.to_priority)
            await _store(repo, outbox, timer, new=False)
