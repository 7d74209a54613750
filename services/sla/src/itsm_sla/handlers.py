"""Use cases: incident events in, timers started, retargeted, stopped.

Each takes a run of consecutive events of its type, `(cause, data)` pairs in the order
they happened, and has exactly the effects of taking them one at a time: a run of one
is how a single event is handled. Whatever the run's length, its reads and writes are a
few statements: one read (locking what it changes), one write, one outbox insert.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from itsm_contracts import CloudEvent
from itsm_contracts.events.incidents import (
    IncidentEvent, IncidentOpened, IncidentPriorityChanged, IncidentResolved, IncidentStateChanged,
)
from itsm_kit.outbox import Outbox
from itsm_sla.domain import Timer, timers_to_stop
from itsm_sla.store import TimerRepository

E = TypeVar("E", bound=IncidentEvent)
Run = Sequence[tuple[CloudEvent, E]]  # (the event, its data) in order; the event is the cause of what follows

Raised = tuple[str, list, CloudEvent]  # what Outbox.add_many takes: (subject, raised, cause)


def _take_raised(timer: Timer, cause: CloudEvent) -> Raised:
    """What the timer raised for this cause, handed over (so the next cause starts afresh)."""
    raised = (timer.id, list(timer.events), cause)
    timer.events.clear()
    return raised


async def incidents_opened(session: AsyncSession, outbox: Outbox, run: Run[IncidentOpened]) -> list[Timer]:
    """Start a response and a resolution timer for each incident that has none yet."""
    have = await TimerRepository(session).incidents_with_timers(data.incident_id for _, data in run)
    started: list[Timer] = []
    raised: list[Raised] = []
    for cause, data in run:
        if data.incident_id in have:
            continue  # timers already attached (a replayed history)
        have.add(data.incident_id)
        for kind in ("response", "resolution"):
            timer = Timer.start(id=str(uuid.uuid4()), incident_id=data.incident_id, kind=kind,
                                priority=data.priority, at=data.opened_at)
            started.append(timer)
            raised.append(_take_raised(timer, cause))
    await TimerRepository(session).add_many(started)
    await outbox.add_many(session, raised)
    return started


async def _change_timers(session: AsyncSession, outbox: Outbox, run: Run[E],
                         change: Callable[[Timer, E], bool]) -> None:
    """Apply `change` (which says whether it changed the timer) to each event's incident's timers, in order."""
    repo = TimerRepository(session)
    timers = await repo.for_incidents((data.incident_id for _, data in run), for_update=True)
    changed: dict[str, Timer] = {}
    raised: list[Raised] = []
    for cause, data in run:
        for timer in timers.get(data.incident_id, []):
            if change(timer, data):
                changed[timer.id] = timer
                if timer.events:
                    raised.append(_take_raised(timer, cause))
    await repo.save_many(changed.values())
    await outbox.add_many(session, raised)


def _stop_for_state(timer: Timer, data: IncidentStateChanged) -> bool:
    kinds, cancel = timers_to_stop(data.to_state)
    if not (timer.running and timer.kind in kinds):
        return False
    if cancel:
        timer.cancel(data.changed_at)
    else:
        timer.stop(data.changed_at)
    return True


def _retarget(timer: Timer, data: IncidentPriorityChanged) -> bool:
    if not timer.running:
        return False
    timer.retarget(data.to_priority)
    return True


async def incidents_state_changed(session: AsyncSession, outbox: Outbox, run: Run[IncidentStateChanged]) -> None:
    await _change_timers(session, outbox, run, _stop_for_state)


async def incidents_resolved(session: AsyncSession, outbox: Outbox, run: Run[IncidentResolved]) -> None:
    await incidents_state_changed(session, outbox, [
        (cause, IncidentStateChanged(incident_id=data.incident_id, from_state="in_progress", to_state="resolved",
                                     changed_at=data.resolved_at))
        for cause, data in run
    ])


async def incidents_priority_changed(session: AsyncSession, outbox: Outbox,
                                     run: Run[IncidentPriorityChanged]) -> None:
    await _change_timers(session, outbox, run, _retarget)
