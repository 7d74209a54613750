"""The sla HTTP API (internal; the gateway composes timers into incidents)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter

from itsm_contracts.api.sla import TimerList, TimerPublic
from itsm_kit.errors import not_found
from itsm_kit.runtime import SessionDep
from itsm_sla.domain import Timer
from itsm_sla.store import TimerRepository

router = APIRouter(prefix="/timers", tags=["sla"])


def public(timer: Timer, now: datetime) -> TimerPublic:
    return TimerPublic(
        id=timer.id, incident_id=timer.incident_id, kind=timer.kind, policy=timer.policy, priority=timer.priority,
        stage=timer.stage, started_at=timer.started_at, due_at=timer.due_at, stopped_at=timer.stopped_at,
        breached=timer.breached or (timer.running and now > timer.due_at),
        elapsed_seconds=timer.elapsed(now).total_seconds(), remaining_seconds=timer.remaining(now).total_seconds(),
        percent=timer.percent(now),
    )


@router.get("", response_model=TimerList, summary="The SLA timers of an incident")
async def list_timers(incident_id: str, session: SessionDep) -> TimerList:
    now = datetime.now(UTC)
    return TimerList(items=[public(t, now) for t in await TimerRepository(session).for_incident(incident_id)])


@router.get("/{timer_id}", response_model=TimerPublic)
async def get_timer(timer_id: str, session: SessionDep) -> TimerPublic:
    timer = await TimerRepository(session).get(timer_id)
    if timer is None:
        raise not_found("timer", timer_id)
    return public(timer, datetime.now(UTC))
